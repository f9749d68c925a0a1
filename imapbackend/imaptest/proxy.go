package imaptest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"net"
	"strings"
	"sync"
)

// Proxy forwards TCP connections to a backend address and counts the IMAP commands clients send.
//
// Tests point the code under test at Addr instead of the server's address
// and then assert how many commands (round trips) an operation cost.
type Proxy struct {
	Addr string // listen address 127.0.0.1:PORT

	backend string
	ln      net.Listener
	wg      sync.WaitGroup

	mu       sync.Mutex
	counts   map[string]int
	conns    map[net.Conn]struct{}
	closed   bool
	closeErr error
}

// NewProxy starts a proxy on a free port of 127.0.0.1 that forwards every
// connection to backend.
func NewProxy(backend string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("imaptest: proxy: listen: %w", err)
	}
	p := &Proxy{
		Addr:    ln.Addr().String(),
		backend: backend,
		ln:      ln,
		counts:  make(map[string]int),
		conns:   make(map[net.Conn]struct{}),
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Close stops listening, closes every proxied connection and waits for the
// forwarding goroutines to finish. It is safe to call more than once.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return p.closeErr
	}
	p.closed = true
	if err := p.ln.Close(); err != nil {
		p.closeErr = fmt.Errorf("imaptest: close proxy: %w", err)
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return p.closeErr
}

// Commands returns how many times each command was sent since the start or
// the last Reset, keyed by upper-case name: "LOGIN", "SELECT", "LIST", ...
// UID commands have two-word names: "UID FETCH", "UID SEARCH".
func (p *Proxy) Commands() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.counts)
}

// Total returns the number of commands sent since the start or the last
// Reset.
func (p *Proxy) Total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.counts {
		n += c
	}
	return n
}

// Reset sets every count back to zero.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.counts)
}

func (p *Proxy) count(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts[name]++
}

// track registers c so that Close can close it; it reports false (and
// closes c) if the proxy is already closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			// Closed by Close; any other Accept error on loopback is
			// just as final for a test.
			return
		}
		if !p.track(client) {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.untrack(client)
			p.serve(client)
		}()
	}
}

// serve forwards one connection in both directions until either side closes.
func (p *Proxy) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.backend)
	if err != nil {
		return // the client sees the connection close, as with a dead server
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	defer server.Close()

	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(client, server)
		// The server hung up (e.g. after LOGOUT): hang up on the client.
		client.Close()
	}()
	scanCommands(client, server, p.count)
	server.Close()
	<-done
}

// scanCommands copies the client-to-server stream from r to w and calls
// count with the name of every command it carries. It returns when r or w
// fails.
//
// A command is a line "TAG SP NAME ...". A line ending in a literal
// announcement {N} or {N+} (also ~{N} for literal8) is followed by N bytes of
// literal data and then by the rest of the same command, which may announce
// further literals; none of that is a new command. Lines that are not
// commands — AUTHENTICATE responses (a single base64 token or "*") and the
// DONE ending IDLE — have no SP after a tag and are not counted.
func scanCommands(r io.Reader, w io.Writer, count func(name string)) error {
	br := bufio.NewReader(r)
	continuation := false // the next line continues a command after a literal
	for {
		line, err := br.ReadBytes('\n')
		// Count before forwarding: once the server has the command it may
		// answer, and a test that resets the counters after the answer must
		// not see this command counted late.
		if err == nil && !continuation {
			if name, ok := commandName(line); ok {
				count(name)
			}
		}
		if len(line) > 0 {
			if _, werr := w.Write(line); werr != nil {
				return werr
			}
		}
		if err != nil {
			return err
		}
		n, ok := literalSize(line)
		continuation = ok
		if ok {
			if _, err := io.CopyN(w, br, n); err != nil {
				return err
			}
		}
	}
}

// commandName returns the upper-case name of the command on line, with the
// following word for UID commands.
func commandName(line []byte) (string, bool) {
	fields := strings.Fields(string(bytes.TrimRight(line, "\r\n")))
	if len(fields) < 2 || !isTag(fields[0]) {
		return "", false
	}
	name := strings.ToUpper(fields[1])
	if !isAtom(name) {
		return "", false
	}
	if name == "UID" && len(fields) > 2 {
		name += " " + strings.ToUpper(fields[2])
	}
	return name, true
}

// isTag reports whether s is a valid tag: astring characters except '+'.
func isTag(s string) bool {
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\+`, c) >= 0 {
			return false
		}
	}
	return s != ""
}

// isAtom reports whether s looks like a command name.
func isAtom(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return s != ""
}

// literalSize reports whether line ends with a literal announcement and the
// literal's size.
func literalSize(line []byte) (int64, bool) {
	line = bytes.TrimRight(line, "\r\n")
	if !bytes.HasSuffix(line, []byte("}")) {
		return 0, false
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false
	}
	digits := bytes.TrimSuffix(line[open+1:len(line)-1], []byte("+"))
	if len(digits) == 0 || len(digits) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
