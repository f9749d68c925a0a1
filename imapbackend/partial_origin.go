package imapbackend

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"strconv"
	"sync/atomic"
)

// originConn removes the origin that a server puts after BINARY[section]
// in a FETCH response to a partial request ("BINARY[2]<1048576> ~{n}"):
// RFC 3516 erratum 8217 asks for it and Dovecot sends it, but go-imap
// v2.0.0-beta.8 cannot parse it and fails the whole connection. Nothing
// else is changed: literals pass through untouched, and so do quoted
// strings, so a subject that happens to read "BINARY[1]<2>" stays as it is.
//
// imapfs sends one partial BINARY item per command, so the origin carries
// nothing the reader needs.
//
// It wraps the connection below go-imap and above TLS: it needs the
// plaintext, which is why imapfs runs STARTTLS itself (starttls.go)
// rather than let go-imap swap its connection inside. It also carries the
// guard (guard.go).
type originConn struct {
	net.Conn
	br      *bufio.Reader
	out     []byte // filtered bytes not returned yet
	literal int64  // bytes of a literal still to pass through as they are
	line    []byte
	guard   guard // the bounds on what the server sends (guard.go)
	err     error // a bound broken: every later read fails too
	// refused, when set, is told err, for the request to report.
	refused *atomic.Pointer[error]
}

func newOriginConn(c net.Conn) *originConn {
	return &originConn{Conn: c, br: bufio.NewReaderSize(c, 32<<10), guard: guard{maxLiteral: DefaultMaxLiteral}}
}

// maxResponseLine bounds a response line (literals excluded): far more than
// any real server sends between literals.
const maxResponseLine = 64 << 20

var errLineTooLong = errors.New("IMAP response line too long")

func (c *originConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.err != nil {
		return 0, c.err
	}
	if len(c.out) > 0 {
		n := copy(p, c.out)
		c.out = c.out[n:]
		return n, nil
	}
	if c.literal > 0 {
		if int64(len(p)) > c.literal {
			p = p[:c.literal]
		}
		n, err := c.br.Read(p)
		c.literal -= int64(n)
		if n > 0 {
			c.guard.stamp() // literal bytes are always an answer's
		}
		return n, err
	}
	c.line = c.line[:0]
	for {
		chunk, err := c.br.ReadSlice('\n')
		c.line = append(c.line, chunk...)
		if err == bufio.ErrBufferFull {
			if len(c.line) > maxResponseLine {
				return 0, errLineTooLong
			}
			c.guard.partial(c.line)
			continue
		}
		if err != nil {
			// The connection ended mid-line: hand over what came, the
			// error follows on the next read.
			if len(c.line) > 0 {
				c.out, _ = filterOrigin(c.line)
				return c.Read(p)
			}
			return 0, err
		}
		break
	}
	line, err := c.guard.line(c.line, c.br)
	if err != nil {
		c.err = err
		if c.refused != nil && errors.Is(err, ErrHostileResponse) {
			c.refused.Store(&err)
		}
		return 0, err
	}
	var n int64
	c.out, n = filterOrigin(line)
	c.literal = n
	return c.Read(p)
}

// filterOrigin rewrites one response line (up to and including its LF) and
// returns the size of the literal announced at its end (0 for none).
func filterOrigin(line []byte) ([]byte, int64) {
	out := line[:0:0]
	start := 0 // line[start:i] is not copied yet
	quoted, escaped := false, false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		if quoted {
			switch {
			case escaped:
				escaped = false
			case ch == '\\':
				escaped = true
			case ch == '"':
				quoted = false
			}
			continue
		}
		if ch == '"' {
			quoted = true
			continue
		}
		if ch != 'B' && ch != 'b' || i == 0 || line[i-1] != ' ' && line[i-1] != '(' {
			continue
		}
		from, to, ok := originAt(line, i)
		if !ok {
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(line))
		}
		out = append(out, line[start:from]...)
		start, i = to, to-1
	}
	if out != nil {
		out = append(out, line[start:]...)
	} else {
		out = line
	}
	return out, literalAtEnd(out)
}

// originAt reports whether line[i:] starts with BINARY[section]<digits>,
// and where the origin ("<digits>") begins and ends.
func originAt(line []byte, i int) (from, to int, ok bool) {
	const name = "BINARY["
	if len(line)-i < len(name) || !bytes.EqualFold(line[i:i+len(name)], []byte(name)) {
		return 0, 0, false
	}
	j := i + len(name)
	for j < len(line) && (line[j] >= '0' && line[j] <= '9' || line[j] == '.') {
		j++
	}
	if j+1 >= len(line) || line[j] != ']' || line[j+1] != '<' {
		return 0, 0, false
	}
	from = j + 1
	k := from + 1
	for k < len(line) && line[k] >= '0' && line[k] <= '9' {
		k++
	}
	if k == from+1 || k >= len(line) || line[k] != '>' {
		return 0, 0, false
	}
	return from, k + 1, true
}

// literalAtEnd returns n when the line ends with {n}, {n+} or ~{n} before
// its CRLF: n bytes of literal data follow.
func literalAtEnd(line []byte) int64 {
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0
	}
	digits := bytes.TrimSuffix(line[open+1:len(line)-1], []byte("+"))
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}
