package imapbackend

import (
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Stats are the backend's counters since it was opened, for the mount's
// status file.
type Stats struct {
	Open    int64 // connections open now
	Dialled int64 // connections made, redials included
	// Operations counts the file system's requests to the server: a
	// listing, a fetch, a delete..., each one to three IMAP commands.
	Operations int64
	BytesIn    int64 // bytes received on the wire (TLS included)
	BytesOut   int64
	Caps       []string // what the server advertises, sorted
	MaxConns   int
}

type counters struct {
	open, dialled, operations, bytesIn, bytesOut atomic.Int64
}

// countingConn counts the bytes that cross one connection, and notes when
// the server last sent any (activity, Unix nanoseconds), so that a slow but
// working transfer is told from a stalled one.
type countingConn struct {
	net.Conn
	c         *counters
	activity  *atomic.Int64
	closeOnce sync.Once
}

func (cc *countingConn) Read(p []byte) (int, error) {
	n, err := cc.Conn.Read(p)
	cc.c.bytesIn.Add(int64(n))
	if n > 0 && cc.activity != nil {
		cc.activity.Store(time.Now().UnixNano())
	}
	return n, err
}

func (cc *countingConn) Write(p []byte) (int, error) {
	n, err := cc.Conn.Write(p)
	cc.c.bytesOut.Add(int64(n))
	return n, err
}

func (cc *countingConn) Close() error {
	cc.closeOnce.Do(func() { cc.c.open.Add(-1) })
	return cc.Conn.Close()
}

// Stats returns the backend's counters.
func (b *Backend) Stats() Stats {
	s := Stats{
		Open: b.counters.open.Load(), Dialled: b.counters.dialled.Load(),
		Operations: b.counters.operations.Load(), BytesIn: b.counters.bytesIn.Load(),
		BytesOut: b.counters.bytesOut.Load(), MaxConns: b.cfg.Connections,
	}
	b.capsMu.Lock()
	for c := range b.caps {
		s.Caps = append(s.Caps, string(c))
	}
	b.capsMu.Unlock()
	sort.Strings(s.Caps)
	return s
}
