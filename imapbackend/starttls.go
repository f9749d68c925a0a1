package imapbackend

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
)

// startTLS reads the greeting and runs STARTTLS on conn itself, rather
// than through go-imap (imapclient.NewStartTLS), so that the guard can
// read the plaintext of the protected connection as it does on imaps://
// (go-imap swaps in its TLS connection inside). It returns the TLS
// connection with a greeting of its own to hand to go-imap, which then
// asks CAPABILITY afresh over TLS as RFC 3501 wants.
//
// Nothing the server sent before TLS is kept: a response injected after
// the STARTTLS reply (CVE-2011-0411's kind) is refused.
func startTLS(ctx context.Context, conn net.Conn, cfg *tls.Config) (net.Conn, error) {
	br := bufio.NewReaderSize(conn, 4<<10)
	greeting, err := plainLine(br)
	if err != nil {
		return nil, fmt.Errorf("greeting: %w", err)
	}
	switch word := responseWord(greeting); word {
	case "OK":
	case "PREAUTH":
		return nil, errors.New("the server sent PREAUTH on an unencrypted connection")
	default:
		return nil, fmt.Errorf("the server greets with %s: %s", word, bytes.TrimSpace(greeting))
	}
	if _, err := io.WriteString(conn, "S1 STARTTLS\r\n"); err != nil {
		return nil, err
	}
	for lines := 0; ; lines++ {
		line, err := plainLine(br)
		if err != nil {
			return nil, err
		}
		if !bytes.HasPrefix(line, []byte("S1 ")) {
			if lines > 100 {
				return nil, errors.New("no answer to STARTTLS")
			}
			continue // untagged: a CAPABILITY, say; nothing to keep
		}
		if word := responseWord(line); word != "OK" {
			return nil, fmt.Errorf("the server refused STARTTLS: %s", bytes.TrimSpace(line))
		}
		break
	}
	if br.Buffered() > 0 {
		return nil, errors.New("the server sent data after its STARTTLS reply, before TLS began")
	}
	tlsConn := tls.Client(conn, cfg)
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return &greetedConn{Conn: tlsConn, greeting: []byte("* OK TLS started\r\n")}, nil
}

// plainLine reads one response line before TLS, of at most the reader's
// buffer.
func plainLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, errors.New("a response line too long before TLS")
	}
	return line, err
}

// responseWord is the status word of "* OK ..." or "tag OK ...".
func responseWord(line []byte) string {
	fields := bytes.Fields(line)
	if len(fields) < 2 {
		return ""
	}
	return string(bytes.ToUpper(fields[1]))
}

// greetedConn reads greeting before what the connection brings.
type greetedConn struct {
	net.Conn
	greeting []byte
}

func (c *greetedConn) Read(p []byte) (int, error) {
	if len(c.greeting) > 0 {
		n := copy(p, c.greeting)
		c.greeting = c.greeting[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
