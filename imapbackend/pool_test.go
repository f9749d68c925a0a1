package imapbackend_test

import (
	"context"
	"testing"
	"time"

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
