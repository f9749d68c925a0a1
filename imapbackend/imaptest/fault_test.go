package imaptest

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// faulty starts a memory server and a fault proxy in front of it.
func faulty(t *testing.T) (*Server, *FaultProxy) {
	t.Helper()
	s := NewMemory(t)
	p, err := NewFaultProxy(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return s, p
}

// login dials through p and logs in; the client is closed when the test
// ends.
func login(t *testing.T, s *Server, p *FaultProxy) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(p.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(s.Username, s.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// within runs f and fails the test if it does not return in d.
func within(t *testing.T, d time.Duration, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
		return nil
	}
}

func TestFaultProxyForwardsAndCounts(t *testing.T) {
	s, p := faulty(t)
	c := login(t, s, p)
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if got := p.Commands(); got["LOGIN"] != 1 || got["NOOP"] != 1 {
		t.Errorf("Commands() = %v, want one LOGIN and one NOOP", got)
	}
	if p.BytesFromServer() == 0 {
		t.Error("BytesFromServer() = 0 after a greeting and two answers")
	}
	if p.Conns() != 1 {
		t.Errorf("Conns() = %d, want 1", p.Conns())
	}
	p.Reset()
	if len(p.Commands()) != 0 || p.BytesFromServer() != 0 {
		t.Errorf("after Reset: %v, %d bytes", p.Commands(), p.BytesFromServer())
	}
}

func TestFaultProxyDelay(t *testing.T) {
	s, p := faulty(t)
	c := login(t, s, p)
	const d = 100 * time.Millisecond
	p.SetDelay(d)
	start := time.Now()
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	// One chunk each way: the command, then the answer.
	if took := time.Since(start); took < 2*d {
		t.Errorf("NOOP with %v delay each way took %v, want at least %v", d, took, 2*d)
	}
	p.SetDelay(0)
	start = time.Now()
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= d {
		t.Errorf("NOOP after SetDelay(0) took %v", took)
	}
}

func TestFaultProxyStall(t *testing.T) {
	s, p := faulty(t)
	c := login(t, s, p)
	p.Stall(true)
	cmd := c.Noop()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("NOOP answered (%v) while stalled", err)
	case <-time.After(300 * time.Millisecond):
	}
	// A new connection is accepted but gets no greeting.
	c2, err := imapclient.DialInsecure(p.Addr, nil)
	if err != nil {
		t.Fatalf("dial while stalled: %v", err)
	}
	defer c2.Close()
	greeted := make(chan error, 1)
	go func() { greeted <- c2.WaitGreeting() }()
	select {
	case err := <-greeted:
		t.Fatalf("greeting arrived (%v) while stalled", err)
	case <-time.After(200 * time.Millisecond):
	}

	p.Stall(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("NOOP after the stall: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("NOOP not answered after the stall ended")
	}
	if err := within(t, 5*time.Second, "greeting after the stall", c2.WaitGreeting); err != nil {
		t.Fatalf("greeting after the stall: %v", err)
	}
	p.Stall(false) // idempotent
	p.Stall(true)
	p.Stall(true)
	p.Stall(false)
	if err := within(t, 5*time.Second, "NOOP", c.Noop().Wait); err != nil {
		t.Fatal(err)
	}
}

func TestFaultProxyCutAll(t *testing.T) {
	s, p := faulty(t)
	c1 := login(t, s, p)
	c2 := login(t, s, p)
	if n := p.CutAll(); n != 2 {
		t.Errorf("CutAll() = %d, want 2 connections cut", n)
	}
	for i, c := range []*imapclient.Client{c1, c2} {
		if err := within(t, 5*time.Second, "NOOP on a cut connection", c.Noop().Wait); err == nil {
			t.Errorf("client %d: NOOP succeeded on a cut connection", i+1)
		}
	}
	// New connections work.
	c3 := login(t, s, p)
	if err := c3.Noop().Wait(); err != nil {
		t.Fatalf("NOOP on a new connection after CutAll: %v", err)
	}
}

func TestFaultProxyStalledConnectionCanBeCut(t *testing.T) {
	s, p := faulty(t)
	c := login(t, s, p)
	p.Stall(true)
	defer p.Stall(false)
	cmd := c.Noop()
	time.Sleep(50 * time.Millisecond)
	p.CutAll()
	if err := within(t, 5*time.Second, "stalled NOOP after CutAll", cmd.Wait); err == nil {
		t.Error("stalled NOOP succeeded after its connection was cut")
	}
}

func TestFaultProxyRefuse(t *testing.T) {
	s, p := faulty(t)
	old := login(t, s, p)
	p.Refuse(true)
	c, err := imapclient.DialInsecure(p.Addr, nil)
	if err == nil {
		err = within(t, 5*time.Second, "greeting from a refused connection", c.WaitGreeting)
		c.Close()
	}
	if err == nil {
		t.Fatal("a new connection was greeted while refusing")
	}
	// Connections made before keep working until cut.
	if err := old.Noop().Wait(); err != nil {
		t.Errorf("existing connection while refusing: %v", err)
	}
	p.Refuse(false)
	c = login(t, s, p)
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("NOOP after Refuse(false): %v", err)
	}
}

func TestFaultProxyClose(t *testing.T) {
	s, p := faulty(t)
	c := login(t, s, p)
	p.Stall(true) // Close must not wait for a stalled forwarder
	cmd := c.Noop()
	if err := within(t, 5*time.Second, "Close", p.Close); err != nil {
		t.Fatal(err)
	}
	if err := within(t, 5*time.Second, "NOOP after Close", cmd.Wait); err == nil {
		t.Error("NOOP succeeded after Close")
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if c, err := imapclient.DialInsecure(p.Addr, nil); err == nil {
		err = c.WaitGreeting()
		c.Close()
		if err == nil {
			t.Error("proxy still forwards after Close")
		}
	}
}
