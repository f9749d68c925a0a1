package fs_test

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	imapfsfs "github.com/imapfs/imapfs/fs"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// delayProxy forwards connections to a server, delaying every chunk by
// half a round trip in each direction without limiting bandwidth (each
// chunk is stamped when read and written out when due), as a long network
// path does. It is the test's own, small stand-in for the bench's
// latency proxy.
type delayProxy struct {
	addr   string
	ln     net.Listener
	oneWay time.Duration
	wg     sync.WaitGroup
}

func newDelayProxy(t testing.TB, backend string, rtt time.Duration) *delayProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &delayProxy{addr: ln.Addr().String(), ln: ln, oneWay: rtt / 2}
	var mu sync.Mutex
	var conns []net.Conn
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", backend)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); p.pipe(s, c) }()
			go func() { defer p.wg.Done(); p.pipe(c, s) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *delayProxy) pipe(dst, src net.Conn) {
	type chunk struct {
		data []byte
		due  time.Time
	}
	queue := make(chan chunk, 4096)
	go func() {
		defer close(queue)
		for {
			buf := make([]byte, 64<<10)
			n, err := src.Read(buf)
			if n > 0 {
				queue <- chunk{buf[:n], time.Now().Add(p.oneWay)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range queue {
		time.Sleep(time.Until(c.due))
		if _, err := dst.Write(c.data); err != nil {
			break
		}
	}
	for range queue {
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	} else {
		dst.Close()
	}
	io.Copy(io.Discard, src)
}

// TestReadAheadLatency measures the readers of TestReadAheadBatches over a
// generated folder through a link of IMAPFS_LATENCY_MS round trip, beside the bound: one UID FETCH
// 1:* BODY.PEEK[] with go-imap over the same link. It is a measurement,
// not a check, and runs only when asked:
//
//	IMAPFS_LATENCY_MS=50 IMAPFS_LATENCY_MESSAGES=1000 go test ./fs -run TestReadAheadLatency -v
func TestReadAheadLatency(t *testing.T) {
	ms, _ := strconv.Atoi(os.Getenv("IMAPFS_LATENCY_MS"))
	if os.Getenv("IMAPFS_LATENCY_MS") == "" {
		t.Skip("a measurement: set IMAPFS_LATENCY_MS (and IMAPFS_LATENCY_MESSAGES) to run it")
	}
	n, _ := strconv.Atoi(os.Getenv("IMAPFS_LATENCY_MESSAGES"))
	if n <= 0 {
		n = 1000
	}
	rtt := time.Duration(ms) * time.Millisecond
	srv := imaptest.NewDovecot(t, imaptest.DovecotOptions{Delimiter: '/'})
	seedShapes(t, srv, "Bulk", n)
	delay := newDelayProxy(t, srv.Addr, rtt)

	// The bound: every byte of the folder in one pipelined command.
	c, err := imapclient.DialInsecure(delay.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(srv.Username, srv.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("Bulk", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	bound := time.Since(start)
	var bytes int
	for _, m := range msgs {
		for _, s := range m.BodySection {
			bytes += len(s.Bytes)
		}
	}

	t.Logf("%d messages (%d KB), %v round trip: UID FETCH 1:* BODY.PEEK[] %v", n, bytes>>10, rtt, bound.Round(time.Millisecond))
	for _, r := range readers {
		t.Run(r.name, func(t *testing.T) { // its own mount, unmounted after
			counting, err := imaptest.NewProxy(delay.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer counting.Close()
			mt := mountVia(t, srv, counting.Addr, 30*time.Second, imapfsfs.Options{})
			folder := filepath.Join(mt.dir, "Bulk")
			run(t, "ls", folder)
			counting.Reset()
			start := time.Now()
			r.read(t, folder)
			took := time.Since(start)
			mt.fsys.WaitReadAhead()
			cmds := counting.Commands()
			start = time.Now()
			r.read(t, folder)
			again := time.Since(start)
			t.Logf("%-15s %8v (%4.1fx the bound), %3d FETCH commands; second pass %v",
				r.name, took.Round(time.Millisecond), float64(took)/float64(bound), fetches(cmds), again.Round(time.Millisecond))
		})
	}
}
