package imaptest

import (
	"bytes"
	"maps"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func TestScanCommands(t *testing.T) {
	literal := "b1 LOGIN fake command\r\nc1 FETCH 1 {3}\r\n" // looks like commands, but is data
	stream := "" +
		"a1 CAPABILITY\r\n" +
		"a2 AUTHENTICATE PLAIN\r\n" +
		"AHVzZXIAcGFzcw==\r\n" + // SASL response line
		"a3 select INBOX\r\n" + // lower case
		"a4 IDLE\r\n" +
		"DONE\r\n" +
		"a5 APPEND INBOX (\\Seen) {" + strconv.Itoa(len(literal)) + "}\r\n" + literal + "\r\n" +
		"a6 APPEND INBOX {3+}\r\nx y\r\n" + // non-synchronising literal
		"a7 LOGIN {4}\r\nuser {4}\r\npass\r\n" + // two literals in one command
		"a8 APPEND INBOX ~{5}\r\nz {1}\r\n" + // literal8 whose data ends like an announcement
		"a9 uid fetch 1:* (FLAGS)\r\n" +
		"a10 UID SEARCH ALL\r\n" +
		"a11 SEARCH TEXT {4}\r\nfoo! FROM bob\r\n" + // continuation after a literal looks like "TAG NAME"
		"*\r\n" + // AUTHENTICATE cancellation
		"a12 NOOP" // last line without CRLF yet
	var out bytes.Buffer
	got := map[string]int{}
	scanCommands(strings.NewReader(stream), &out, func(name string) { got[name]++ })

	want := map[string]int{
		"CAPABILITY": 1, "AUTHENTICATE": 1, "SELECT": 1, "IDLE": 1, "APPEND": 3,
		"LOGIN": 1, "UID FETCH": 1, "UID SEARCH": 1, "SEARCH": 1,
	}
	if !maps.Equal(got, want) {
		t.Errorf("counted %v\nwant    %v", got, want)
	}
	if out.String() != stream {
		t.Errorf("forwarded stream differs from input:\n%q\n%q", out.String(), stream)
	}
}

func TestLiteralSize(t *testing.T) {
	for line, want := range map[string]int64{
		"a APPEND INBOX {12}\r\n":  12,
		"a APPEND INBOX {12+}\r\n": 12,
		"a APPEND INBOX ~{0}\r\n":  0,
		"a APPEND INBOX {}\r\n":    -1,
		"a APPEND INBOX {+}\r\n":   -1,
		"a APPEND INBOX {-1}\r\n":  -1,
		"a APPEND INBOX {1x}\r\n":  -1,
		"a NOOP\r\n":               -1,
		"a SEARCH TEXT \"}\"\r\n":  -1,
	} {
		n, ok := literalSize([]byte(line))
		if !ok {
			n = -1
		}
		if n != want {
			t.Errorf("literalSize(%q) = %d, want %d", line, n, want)
		}
	}
}

// proxied starts a memory server holding one message and a proxy in front
// of it, and returns a client logged in through the proxy with INBOX
// selected, the message's UID, and the proxy with its counts reset.
func proxied(t *testing.T) (*imapclient.Client, imap.UID, *Proxy) {
	t.Helper()
	s := NewMemory(t)
	uid, err := s.Append("INBOX", []byte("Subject: hi\n\nhello\n"), nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProxy(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	c, err := imapclient.DialInsecure(p.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(s.Username, s.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if got := p.Commands(); got["LOGIN"] != 1 || got["SELECT"] != 1 {
		t.Errorf("after LOGIN and SELECT, counts are %v", got)
	}
	// The client asks for CAPABILITY lazily when it needs to know; make it
	// do so now rather than in the middle of a counted operation.
	c.Caps()
	p.Reset()
	if p.Total() != 0 {
		t.Fatalf("Total after Reset = %d", p.Total())
	}
	return c, uid, p
}

func TestProxyCountsUIDFetch(t *testing.T) {
	c, uid, p := proxied(t)
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	// Server to client is forwarded untouched.
	if len(msgs) != 1 || string(msgs[0].FindBodySection(section)) != "Subject: hi\r\n\r\nhello\r\n" {
		t.Fatalf("fetched %d messages: %+v", len(msgs), msgs)
	}
	if got, want := p.Commands(), map[string]int{"UID FETCH": 1}; !maps.Equal(got, want) {
		t.Errorf("Commands() = %v, want %v", got, want)
	}
	if p.Total() != 1 {
		t.Errorf("Total() = %d, want 1", p.Total())
	}
}

func TestProxyCountsAppendWithLiteralOnce(t *testing.T) {
	c, _, p := proxied(t)
	// Lines inside the message look like commands and literal announcements.
	msg := []byte("Subject: tricky\r\n\r\nx1 LOGIN user pass\r\nx2 APPEND INBOX {5}\r\nx3 NOOP\r\n")
	cmd := c.Append("INBOX", int64(len(msg)), nil)
	if _, err := cmd.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if got, want := p.Commands(), map[string]int{"APPEND": 1, "NOOP": 1}; !maps.Equal(got, want) {
		t.Errorf("Commands() = %v, want %v", got, want)
	}
}

func TestProxyDoesNotCountDone(t *testing.T) {
	c, _, p := proxied(t)
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if got, want := p.Commands(), map[string]int{"IDLE": 1, "NOOP": 1}; !maps.Equal(got, want) {
		t.Errorf("Commands() = %v, want %v", got, want)
	}
}

func TestProxyConcurrentConnections(t *testing.T) {
	s := NewMemory(t)
	p, err := NewProxy(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const clients, noops = 4, 10
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := imapclient.DialInsecure(p.Addr, nil)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			if err := c.Login(s.Username, s.Password).Wait(); err != nil {
				t.Error(err)
				return
			}
			for range noops {
				if err := c.Noop().Wait(); err != nil {
					t.Error(err)
					return
				}
			}
			if err := c.Logout().Wait(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got := p.Commands()
	if got["NOOP"] != clients*noops || got["LOGIN"] != clients || got["LOGOUT"] != clients {
		t.Errorf("Commands() = %v, want %d NOOP, %d LOGIN, %d LOGOUT", got, clients*noops, clients, clients)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := imapclient.DialInsecure(p.Addr, nil); err == nil {
		err = c.Noop().Wait()
		c.Close()
		if err == nil {
			t.Error("proxy still forwards after Close")
		}
	}
}
