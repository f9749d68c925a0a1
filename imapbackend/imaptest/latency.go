package imaptest

import (
	"fmt"
	"io"
	"maps"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// LatencyProxy forwards TCP connections to a backend address, counts the
// IMAP commands clients send and the bytes either way, and delays every
// byte by half a round trip in each direction, as a long network path
// does, without limiting bandwidth.
//
// Each chunk read from one side is stamped and queued; a writer goroutine
// sends it on at stamp+rtt/2. Pipelined data therefore flows at full
// speed and only arrives later, unlike FaultProxy.SetDelay, which sleeps
// before each chunk in turn and so also throttles throughput. With no
// delay, chunks are written on as they are read, without the queue: a
// hand-over to the writer goroutine per chunk would make the proxy, not
// the link, what bounds a bulk transfer. Benchmarks point clients at
// Addr and read the command and byte counters.
type LatencyProxy struct {
	Addr string // listen address 127.0.0.1:PORT

	backend string
	oneWay  time.Duration
	ln      net.Listener
	wg      sync.WaitGroup

	fromServer atomic.Int64
	toServer   atomic.Int64

	mu       sync.Mutex
	counts   map[string]int
	conns    map[net.Conn]struct{}
	closed   bool
	closeErr error
}

// latencyQueueChunks bounds the chunks in flight per direction and
// connection. With reads of up to latencyChunk bytes it caps the memory a
// slow reader can make the proxy hold (TCP back-pressure takes over),
// while allowing far more than any loopback link carries in rtt/2.
const (
	latencyQueueChunks = 1024
	latencyChunk       = 64 << 10
)

// NewLatencyProxy starts a proxy on a free port of 127.0.0.1 that forwards
// every connection to backend, adding rtt/2 of delay in each direction.
func NewLatencyProxy(backend string, rtt time.Duration) (*LatencyProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("imaptest: latency proxy: listen: %w", err)
	}
	p := &LatencyProxy{
		Addr:    ln.Addr().String(),
		backend: backend,
		oneWay:  rtt / 2,
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
func (p *LatencyProxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return p.closeErr
	}
	p.closed = true
	if err := p.ln.Close(); err != nil {
		p.closeErr = fmt.Errorf("imaptest: close latency proxy: %w", err)
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return p.closeErr
}

// Commands returns how many times each command was sent since the start
// or the last Reset, keyed by upper-case name: "LOGIN", "SELECT", "LIST",
// ...; UID commands have two-word names: "UID FETCH", "UID SEARCH".
func (p *LatencyProxy) Commands() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.counts)
}

// Total returns the number of commands sent since the start or the last
// Reset.
func (p *LatencyProxy) Total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.counts {
		n += c
	}
	return n
}

// BytesFromServer returns the bytes forwarded from servers to clients
// since the start or the last Reset.
func (p *LatencyProxy) BytesFromServer() int64 { return p.fromServer.Load() }

// BytesToServer returns the bytes forwarded from clients to servers since
// the start or the last Reset.
func (p *LatencyProxy) BytesToServer() int64 { return p.toServer.Load() }

// Reset sets every counter back to zero.
func (p *LatencyProxy) Reset() {
	p.mu.Lock()
	clear(p.counts)
	p.mu.Unlock()
	p.fromServer.Store(0)
	p.toServer.Store(0)
}

func (p *LatencyProxy) count(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts[name]++
}

// track registers c so that Close can close it; it reports false (and
// closes c) if the proxy is already closed.
func (p *LatencyProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *LatencyProxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

func (p *LatencyProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed by Close
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

// serve forwards one connection in both directions until either side
// closes; then both are closed.
func (p *LatencyProxy) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.backend)
	if err != nil {
		return
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	defer server.Close()

	up := newDelayLine(server, p.oneWay, &p.toServer)
	down := newDelayLine(client, p.oneWay, &p.fromServer)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		copyChunks(down, server)
		down.close() // delivers what is queued, then hangs up on the client
	}()
	go func() {
		defer wg.Done()
		scanCommands(client, up, p.count)
		up.close()
	}()
	wg.Wait()
}

// copyChunks reads r and writes each chunk to d as it arrives.
func copyChunks(d *delayLine, r io.Reader) {
	buf := make([]byte, latencyChunk)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := d.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// delayChunk is data waiting for its release time.
type delayChunk struct {
	due  time.Time
	data []byte
}

// delayLine is one direction of a proxied connection: Write queues a copy
// of the data stamped with its release time, and a goroutine writes it to
// the destination when that time comes. Writes block only when the queue
// is full.
type delayLine struct {
	dst    net.Conn
	delay  time.Duration
	bytes  *atomic.Int64
	queue  chan delayChunk
	done   chan struct{} // closed when the writer goroutine has finished
	failed atomic.Bool   // the destination refused a write
}

func newDelayLine(dst net.Conn, delay time.Duration, counter *atomic.Int64) *delayLine {
	d := &delayLine{
		dst:   dst,
		delay: delay,
		bytes: counter,
		queue: make(chan delayChunk, latencyQueueChunks),
		done:  make(chan struct{}),
	}
	if delay > 0 {
		go d.run()
	}
	return d
}

// Write queues a copy of b; it fails once the destination has failed, so
// that the reading side stops too.
func (d *delayLine) Write(b []byte) (int, error) {
	if d.failed.Load() {
		return 0, io.ErrClosedPipe
	}
	if d.delay <= 0 {
		d.bytes.Add(int64(len(b)))
		n, err := d.dst.Write(b)
		if err != nil {
			d.bytes.Add(int64(n - len(b)))
			d.failed.Store(true)
			return n, err
		}
		return n, nil
	}
	c := delayChunk{due: time.Now().Add(d.delay), data: append([]byte(nil), b...)}
	select {
	case d.queue <- c:
		return len(b), nil
	case <-d.done:
		return 0, io.ErrClosedPipe
	}
}

// close lets the queued data go out, then closes the destination.
func (d *delayLine) close() {
	if d.delay <= 0 {
		d.dst.Close()
		return
	}
	close(d.queue)
	<-d.done
}

func (d *delayLine) run() {
	defer close(d.done)
	defer d.dst.Close()
	for c := range d.queue {
		if wait := time.Until(c.due); wait > 0 {
			time.Sleep(wait)
		}
		if d.failed.Load() {
			continue // drain, so that Write never blocks on a dead line
		}
		// Counted before the write, so that a reader who has the bytes
		// also sees them counted.
		d.bytes.Add(int64(len(c.data)))
		n, err := d.dst.Write(c.data)
		if err != nil {
			d.bytes.Add(int64(n - len(c.data)))
			d.failed.Store(true)
		}
	}
}
