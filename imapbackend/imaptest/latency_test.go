package imaptest

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"
)

func TestLatencyProxyRoundTrip(t *testing.T) {
	srv := NewMemory(t)
	const rtt = 40 * time.Millisecond
	p, err := NewLatencyProxy(srv.Addr, rtt)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	proxied := &Server{Addr: p.Addr, Username: srv.Username, Password: srv.Password, Kind: "memory"}
	c, err := proxied.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer logout(c)
	p.Reset()
	start := time.Now()
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < rtt {
		t.Errorf("NOOP took %v through a %v proxy, want at least the round trip", took, rtt)
	}
	if got := p.Commands(); got["NOOP"] != 1 || p.Total() != 1 {
		t.Errorf("commands = %v, want one NOOP", got)
	}
	if p.BytesToServer() == 0 || p.BytesFromServer() == 0 {
		t.Errorf("bytes to server %d, from server %d: want both counted", p.BytesToServer(), p.BytesFromServer())
	}
}

// TestLatencyProxyBandwidth checks that the delay does not throttle a bulk
// transfer: 16 MiB in 64 KiB chunks would take 256 × 25 ms ≈ 6 s one way
// (13 s both ways) if each chunk waited in turn; the bound is loose.
func TestLatencyProxyBandwidth(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	payload := make([]byte, 16<<20)
	rand.Read(payload)
	// The command scanner forwards whole lines (or literals), as IMAP
	// sends them: end the data with one.
	payload[len(payload)-1] = '\n'
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		// Echo: every byte crosses the proxy twice.
		io.Copy(c, c)
	}()

	p, err := NewLatencyProxy(ln.Addr().String(), 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	start := time.Now()
	go func() {
		c.Write(payload)
	}()
	got := make([]byte, len(payload))
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if !bytes.Equal(got, payload) {
		t.Fatal("echoed data differs from what was sent")
	}
	if took > 4*time.Second {
		t.Errorf("16 MiB echoed through a 50 ms proxy in %v, want well under 4 s (not throttled)", took)
	}
	if p.BytesFromServer() != int64(len(payload)) || p.BytesToServer() != int64(len(payload)) {
		t.Errorf("bytes from server %d, to server %d, want %d each", p.BytesFromServer(), p.BytesToServer(), len(payload))
	}
	t.Logf("16 MiB echoed in %v", took)
}
