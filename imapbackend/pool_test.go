package imapbackend_test

import (
	"context"
	"testing"
	"time"

	"github.com/imapfs/imapfs/imapbackend"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// Spare readies one connection, with the folder selected, in the
// background: asked twice at once it dials once, asked again with two
// idle it dials no more, and the next operation on the folder finds the
// spare ready, without a SELECT of its own.
func TestSpareReadiesOneConnection(t *testing.T) {
	srv := imaptest.NewMemory(t)
	b, proxy := openThroughProxy(t, srv)
	if n := b.Stats().Dialled; n != 1 {
		t.Fatalf("dialled %d connections after Open, want 1", n)
	}
	b.Spare("INBOX")
	b.Spare("INBOX")
	deadline := time.Now().Add(10 * time.Second)
	for proxy.Commands()["SELECT"] == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // the spare goes back to the pool
	b.Spare("INBOX")
	time.Sleep(200 * time.Millisecond)
	if n := b.Stats().Dialled; n != 2 {
		t.Errorf("dialled %d connections, want 2: one at Open and one spare", n)
	}
	if n := proxy.Commands()["SELECT"]; n != 1 {
		t.Fatalf("%d SELECT after Spare, want 1", n)
	}
	if _, err := b.FetchSection(context.Background(), "INBOX", 0, 1, "HEADER", nil); err != nil {
		t.Fatal(err)
	}
	if n := proxy.Commands()["SELECT"]; n != 1 {
		t.Errorf("the fetch after Spare sent a SELECT of its own (%d in all)", n)
	}
	if n := b.Stats().Dialled; n != 2 {
		t.Errorf("dialled %d connections after the fetch, want 2", n)
	}
}

// TestSpareKeepsTheConnectionLimit: a spare connection is readied only
// within --connections: with one connection allowed and it idle, Spare
// dials nothing; with two, it dials the second and no third.
func TestSpareKeepsTheConnectionLimit(t *testing.T) {
	for _, limit := range []int{1, 2} {
		srv := imaptest.NewMemory(t)
		proxy, err := imaptest.NewFaultProxy(srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { proxy.Close() })
		acct, err := imapbackend.ParseURL("imap+insecure://" + srv.Username + "@" + proxy.Addr)
		if err != nil {
			t.Fatal(err)
		}
		b, err := imapbackend.Open(context.Background(), imapbackend.Config{Account: acct, Password: srv.Password, Timeout: 10 * time.Second, Connections: limit})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		for range 3 {
			b.Spare("INBOX")
			time.Sleep(200 * time.Millisecond)
			if _, err := b.Snapshot(context.Background(), "INBOX"); err != nil {
				t.Fatal(err)
			}
		}
		if n := proxy.Accepted(); n != int64(limit) {
			t.Errorf("--connections %d: %d connections made", limit, n)
		}
	}
}
