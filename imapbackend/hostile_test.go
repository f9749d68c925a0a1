package imapbackend_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/imapfs/imapfs/imapbackend"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// hostileTimeout is the backend timeout against the hostile server:
// short, so that a test that waits for it is quick.
const hostileTimeout = 2 * time.Second

// newHostile starts a hostile server with INBOX holding messages 1 to 3
// (plus the mailboxes given) and closes it in t.Cleanup.
func newHostile(t *testing.T, more ...*imaptest.HostileMailbox) *imaptest.Hostile {
	t.Helper()
	inbox := &imaptest.HostileMailbox{Name: "INBOX"}
	for uid := uint32(1); uid <= 3; uid++ {
		inbox.Messages = append(inbox.Messages, imaptest.SimpleMessage(uid, "message "+strconv.Itoa(int(uid))))
	}
	h, err := imaptest.NewHostile(append([]*imaptest.HostileMailbox{inbox}, more...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// openHostile opens a backend on h with hostileTimeout.
func openHostile(t *testing.T, h *imaptest.Hostile) *imapbackend.Backend {
	t.Helper()
	acct, err := imapbackend.ParseURL("imap+insecure://" + h.Username + "@" + h.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := imapbackend.Open(ctx, imapbackend.Config{Account: acct, Password: h.Password, Timeout: hostileTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// checkStillWorks checks the backend still reads INBOX's first message.
func checkStillWorks(t *testing.T, b *imapbackend.Backend) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*hostileTimeout)
	defer cancel()
	snap, err := b.Snapshot(ctx, "INBOX")
	if err != nil {
		t.Fatalf("INBOX after the hostile answer: %v", err)
	}
	if len(snap.Messages) != 3 {
		t.Fatalf("INBOX after the hostile answer: %d messages, want 3", len(snap.Messages))
	}
	raw, err := b.FetchSection(ctx, "INBOX", snap.UIDValidity, 1, "TEXT", nil)
	if err != nil || string(raw) != "body of 1\r\n" {
		t.Fatalf("TEXT of message 1 after the hostile answer: %q, %v", raw, err)
	}
}

func TestHostileServerBaseline(t *testing.T) {
	h := newHostile(t)
	b := openHostile(t, h)
	checkStillWorks(t, b)
	list, err := b.Mailboxes(context.Background())
	if err != nil || len(list) != 1 || list[0].Name != "INBOX" {
		t.Fatalf("Mailboxes: %v, %v", list, err)
	}
	_, uids, err := b.Search(context.Background(), "INBOX", nil)
	if err != nil || len(uids) != 3 {
		t.Fatalf("Search: %v, %v", uids, err)
	}
}

var _ = errors.New
var _ = fmt.Sprint
var _ = io.EOF
var _ = os.Getpid
var _ = runtime.GC
var _ = strings.Cut
var _ imap.UID
