package imaptest

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// FaultProxy forwards TCP connections to a backend address, like Proxy,
// and can be told to misbehave: add latency, stall (accept connections but
// forward nothing, like a server that never answers), cut every current
// connection, or refuse new ones (like a server that is down). It counts
// the IMAP commands clients send, as Proxy does.
//
// Tests point the code under test at Addr and switch faults on and off
// while it runs.
type FaultProxy struct {
	Addr string // listen address 127.0.0.1:PORT

	backend string
	ln      net.Listener
	wg      sync.WaitGroup

	fromServer atomic.Int64 // bytes forwarded server to client since Reset
	accepted   atomic.Int64 // connections accepted (refused ones included)

	mu      sync.Mutex
	counts  map[string]int
	pairs   map[*faultPair]struct{}
	delay   time.Duration
	running chan struct{} // closed while not stalled; open while stalled
	refuse  bool
	closed  bool
	rewrite func(line []byte) []byte
}

// faultPair is one proxied connection: the client side and, once dialled,
// the server side. done is closed when the pair is cut.
type faultPair struct {
	client net.Conn
	server net.Conn
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex // guards server
}

func (c *faultPair) cut() {
	c.once.Do(func() {
		close(c.done)
		// A reset rather than an orderly FIN, as when a NAT entry or a
		// network path dies: SetLinger(0) makes Close send RST.
		if tc, ok := c.client.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.client.Close()
		c.mu.Lock()
		if c.server != nil {
			c.server.Close()
		}
		c.mu.Unlock()
	})
}

// NewFaultProxy starts a fault proxy on a free port of 127.0.0.1 that
// forwards every connection to backend, with no fault switched on.
func NewFaultProxy(backend string) (*FaultProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("imaptest: fault proxy: listen: %w", err)
	}
	running := make(chan struct{})
	close(running)
	p := &FaultProxy{
		Addr:    ln.Addr().String(),
		backend: backend,
		ln:      ln,
		counts:  make(map[string]int),
		pairs:   make(map[*faultPair]struct{}),
		running: running,
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Close stops listening, cuts every connection and waits for the
// forwarding goroutines to finish. It is safe to call more than once.
func (p *FaultProxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.ln.Close()
	pairs := maps.Clone(p.pairs)
	p.mu.Unlock()
	for c := range pairs {
		c.cut()
	}
	p.wg.Wait()
	return nil
}

// Rewrite has every response line from the server (literals excepted)
// passed through f before it is forwarded: a server that answers some item
// wrongly. It applies to connections made after the call.
func (p *FaultProxy) Rewrite(f func(line []byte) []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rewrite = f
}

// SetDelay adds d of latency before each chunk of data is forwarded, in
// either direction (0 switches it off). A chunk is what one read returned:
// a command line, a response, a piece of a literal.
func (p *FaultProxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// Stall, while on, keeps every connection (current and new) open but
// forwards nothing in either direction: a server that accepts and never
// answers. Data read meanwhile is held and forwarded when the stall ends.
func (p *FaultProxy) Stall(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	stalled := p.isStalled()
	switch {
	case on && !stalled:
		p.running = make(chan struct{})
	case !on && stalled:
		close(p.running)
	}
}

func (p *FaultProxy) isStalled() bool {
	select {
	case <-p.running:
		return false
	default:
		return true
	}
}

// Refuse, while on, closes every new connection as soon as it is accepted,
// before anything reaches the server: a server that is down. Current
// connections are left alone; CutAll ends them.
func (p *FaultProxy) Refuse(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = on
}

// CutAll resets every current connection. New connections are accepted as
// usual (unless Refuse is on).
func (p *FaultProxy) CutAll() int {
	p.mu.Lock()
	pairs := maps.Clone(p.pairs)
	p.mu.Unlock()
	for c := range pairs {
		c.cut()
	}
	return len(pairs)
}

// Conns returns how many connections are open through the proxy.
func (p *FaultProxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pairs)
}

// Accepted returns how many connections the proxy has accepted, refused
// ones included, since it started.
func (p *FaultProxy) Accepted() int64 { return p.accepted.Load() }

// BytesFromServer returns how many bytes were forwarded from the server to
// clients since the start or the last Reset: tests wait on it to act in the
// middle of a transfer.
func (p *FaultProxy) BytesFromServer() int64 { return p.fromServer.Load() }

// Commands returns how many times each command was sent since the start or
// the last Reset, keyed as Proxy.Commands is.
func (p *FaultProxy) Commands() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.counts)
}

// Reset sets the command counts and BytesFromServer back to zero.
func (p *FaultProxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.counts)
	p.fromServer.Store(0)
}

func (p *FaultProxy) count(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts[name]++
}

// gate blocks while the proxy is stalled, then sleeps the configured
// delay. It reports false if the connection was cut meanwhile.
func (p *FaultProxy) gate(c *faultPair) bool {
	p.mu.Lock()
	running, delay := p.running, p.delay
	p.mu.Unlock()
	select {
	case <-running:
	case <-c.done:
		return false
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.done:
			return false
		}
	}
	// A Stall switched on during the delay holds this chunk too.
	p.mu.Lock()
	running = p.running
	p.mu.Unlock()
	select {
	case <-running:
		return true
	case <-c.done:
		return false
	}
}

func (p *FaultProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed by Close
		}
		p.accepted.Add(1)
		p.mu.Lock()
		if p.closed || p.refuse {
			p.mu.Unlock()
			if tc, ok := client.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			client.Close()
			continue
		}
		c := &faultPair{client: client, done: make(chan struct{})}
		p.pairs[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go func() {
			defer p.wg.Done()
			p.serve(c)
			p.mu.Lock()
			delete(p.pairs, c)
			p.mu.Unlock()
		}()
	}
}

// gatedWriter writes to w after the gate opens.
type gatedWriter struct {
	p *FaultProxy
	c *faultPair
	w io.Writer
}

func (g gatedWriter) Write(b []byte) (int, error) {
	if !g.p.gate(g.c) {
		return 0, net.ErrClosed
	}
	return g.w.Write(b)
}

func (p *FaultProxy) serve(c *faultPair) {
	defer c.cut()
	server, err := net.DialTimeout("tcp", p.backend, 10*time.Second)
	if err != nil {
		return // the client sees the connection close, as with a dead server
	}
	c.mu.Lock()
	c.server = server
	c.mu.Unlock()
	select {
	case <-c.done: // cut while dialling
		server.Close()
		return
	default:
	}

	p.mu.Lock()
	rewrite := p.rewrite
	p.mu.Unlock()
	forward := func(b []byte) bool {
		if !p.gate(c) {
			return false
		}
		if _, err := c.client.Write(b); err != nil {
			return false
		}
		p.fromServer.Add(int64(len(b)))
		return true
	}
	down := make(chan struct{})
	go func() {
		defer close(down)
		defer c.cut() // the server hung up: hang up on the client
		if rewrite != nil {
			rewriteResponses(server, rewrite, forward)
			return
		}
		buf := make([]byte, 32<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 && !forward(buf[:n]) {
				return
			}
			if err != nil {
				return
			}
		}
	}()
	scanCommands(c.client, gatedWriter{p, c, server}, p.count)
	c.cut()
	<-down
}

// rewriteResponses forwards a server's responses line by line, each line
// through rewrite, and the literals they announce as they are.
func rewriteResponses(server io.Reader, rewrite func([]byte) []byte, forward func([]byte) bool) {
	br := bufio.NewReader(server)
	buf := make([]byte, 32<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && !forward(rewrite(line)) {
			return
		}
		if err != nil {
			return
		}
		n, ok := literalSize(line)
		for ok && n > 0 {
			k, err := br.Read(buf[:min(n, int64(len(buf)))])
			if k > 0 && !forward(buf[:k]) {
				return
			}
			if err != nil {
				return
			}
			n -= int64(k)
		}
	}
}
