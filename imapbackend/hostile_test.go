package imapbackend_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
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

// storm writes line every 10 ms until the client goes away or limit
// passes.
func storm(r *imaptest.HostileRequest, line string, limit time.Duration, stop <-chan struct{}) {
	end := time.Now().Add(limit)
	for time.Now().Before(end) {
		if err := r.Printf("%s", line); err != nil {
			return
		}
		select {
		case <-stop:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Issue 15, case 9: a server that answers a FETCH only with "* n EXISTS"
// every 10 ms held the request past --timeout, since any byte counted as
// progress. Now only an answer's bytes count: the request fails within
// the timeout, and the backend works on.
func TestHostileExistsStormTimesOut(t *testing.T) {
	h := newHostile(t)
	h.Handle("FETCH", func(r *imaptest.HostileRequest) {
		if strings.HasPrefix(r.Args, "2 ") {
			storm(r, "* 3 EXISTS", 30*time.Second, nil)
			return
		}
		r.Default()
	})
	b := openHostile(t, h)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*hostileTimeout)
	defer cancel()
	_, err := b.FetchSection(ctx, "INBOX", 0, 2, "TEXT", nil)
	took := time.Since(start)
	if !errors.Is(err, imapbackend.ErrTimeout) {
		t.Fatalf("fetch under an EXISTS storm: %v after %v, want ErrTimeout", err, took)
	}
	if took > 2*hostileTimeout+time.Second {
		t.Errorf("fetch under an EXISTS storm failed after %v, want about the %v timeout", took, hostileTimeout)
	}
	checkStillWorks(t, b)
}

// Issue 15, case 9: on the IDLE connection the same storm drove ~700
// commands a second. Now IDLE is ended at most once a second to report
// what changed.
func TestHostileExistsStormIdleRate(t *testing.T) {
	h := newHostile(t)
	h.Handle("IDLE", func(r *imaptest.HostileRequest) {
		if err := r.Printf("+ idling"); err != nil {
			return
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			storm(r, "* 4 EXISTS", 30*time.Second, stop)
		}()
		_, err := r.ReadLine() // DONE
		close(stop)
		<-done
		if err == nil {
			r.OK()
		}
	})
	b := openHostile(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	var changed atomic.Int64
	watched := make(chan error, 1)
	go func() {
		watched <- b.Watch(ctx, "INBOX", imapbackend.WatchEvents{Changed: func() { changed.Add(1) }})
	}()
	const span = 3 * time.Second
	time.Sleep(span)
	idles, reports := h.Count("IDLE"), changed.Load()
	cancel()
	select {
	case err := <-watched:
		if err != nil {
			t.Errorf("Watch: %v", err)
		}
	case <-time.After(3 * hostileTimeout):
		t.Fatal("Watch did not return after its context ended")
	}
	// One IDLE to start, then at most one a second.
	if max := int(span/time.Second) + 2; idles > max || reports > int64(max) {
		t.Errorf("%v of an EXISTS storm: %d IDLE commands and %d change reports, want at most %d", span, idles, reports, max)
	}
	if reports == 0 {
		t.Error("the storm's changes were never reported")
	}
	checkStillWorks(t, b)
}

// Issue 15, case 10: an ESEARCH answer "ALL 1:300000000" (50 bytes) took
// 3.26 GB. Now a set larger than the mailbox is refused before it is
// expanded: the search fails cleanly and memory stays flat.
func TestHostileSearchRange(t *testing.T) {
	h := newHostile(t)
	h.Handle("SEARCH", func(r *imaptest.HostileRequest) {
		r.Printf("* ESEARCH (TAG %q) UID ALL 1:300000000", r.Tag)
		r.OK()
	})
	b := openHostile(t, h)
	grown := imaptest.PeakRSS(t)
	_, uids, err := b.Search(context.Background(), "INBOX", nil)
	if !errors.Is(err, imapbackend.ErrHostileResponse) {
		t.Errorf("search answered with 300,000,000 UIDs for 3 messages: %d UIDs, %v; want ErrHostileResponse", len(uids), err)
	}
	if g := grown(); g > 64<<20 {
		t.Errorf("peak RSS grew by %d MiB, want at most 64", g>>20)
	}
	checkStillWorks(t, b)
}

// hugeLiteral writes item as a literal of n bytes, without holding them.
func hugeLiteral(item string, n int64) func(w io.Writer) error {
	return func(w io.Writer) error {
		if _, err := fmt.Fprintf(w, "%s {%d}\r\n", item, n); err != nil {
			return err
		}
		var err error
		chunk := []byte(strings.Repeat("x", 1<<20))
		for left := n; left > 0 && err == nil; left -= int64(len(chunk)) {
			_, err = w.Write(chunk[:min(left, int64(len(chunk)))])
		}
		return err
	}
}

// Issue 15, case 10: a 1 GiB literal for BODY[HEADER] took 3.7 GB with a
// 16 MiB cache. Now a literal past Config.MaxLiteral fails that request
// before a byte of it is read, and memory stays flat.
func TestHostileHugeLiteral(t *testing.T) {
	inbox := &imaptest.HostileMailbox{Name: "INBOX"}
	for uid := uint32(1); uid <= 3; uid++ {
		inbox.Messages = append(inbox.Messages, imaptest.SimpleMessage(uid, "message "+strconv.Itoa(int(uid))))
	}
	inbox.Messages[1].Items = map[string]func(io.Writer) error{"BODY[HEADER]": hugeLiteral("BODY[HEADER]", 1<<30)}
	h, err := imaptest.NewHostile(inbox)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	acct, err := imapbackend.ParseURL("imap+insecure://" + h.Username + "@" + h.Addr)
	if err != nil {
		t.Fatal(err)
	}
	b, err := imapbackend.Open(context.Background(), imapbackend.Config{Account: acct, Password: h.Password, Timeout: hostileTimeout, MaxLiteral: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	grown := imaptest.PeakRSS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*hostileTimeout)
	defer cancel()
	_, err = b.FetchSection(ctx, "INBOX", 0, 2, "HEADER", nil)
	if !errors.Is(err, imapbackend.ErrHostileResponse) {
		t.Errorf("fetch of a 1 GiB header: %v, want ErrHostileResponse", err)
	}
	if g := grown(); g > 64<<20 {
		t.Errorf("peak RSS grew by %d MiB, want at most 64", g>>20)
	}
	checkStillWorks(t, b)
}

// imap:// accounts are guarded too: imapfs runs STARTTLS itself so that
// the guard reads the plaintext. A 3,000,000-deep BODYSTRUCTURE over
// STARTTLS fails that request, not the process.
func TestHostileStartTLSGuarded(t *testing.T) {
	inbox := &imaptest.HostileMailbox{Name: "INBOX"}
	for uid := uint32(1); uid <= 3; uid++ {
		inbox.Messages = append(inbox.Messages, imaptest.SimpleMessage(uid, "message "+strconv.Itoa(int(uid))))
	}
	inbox.Messages[1].Items = map[string]func(io.Writer) error{"BODYSTRUCTURE": func(w io.Writer) error {
		deep := strings.Repeat("(", 3_000_000)
		_, err := io.WriteString(w, "BODYSTRUCTURE "+deep+strings.Repeat(")", len(deep)))
		return err
	}}
	h, err := imaptest.NewHostile(inbox)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	caPEM, err := h.StartTLS()
	if err != nil {
		t.Fatal(err)
	}
	caFile := t.TempDir() + "/ca.pem"
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := imapbackend.TLSConfig(caFile, "")
	if err != nil {
		t.Fatal(err)
	}
	acct, err := imapbackend.ParseURL("imap://" + h.Username + "@" + h.Addr)
	if err != nil {
		t.Fatal(err)
	}
	b, err := imapbackend.Open(context.Background(), imapbackend.Config{Account: acct, Password: h.Password, Timeout: hostileTimeout, TLSConfig: tlsCfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if h.Count("STARTTLS") != 1 {
		t.Errorf("%d STARTTLS commands, want 1", h.Count("STARTTLS"))
	}
	err = b.StructureChunks(context.Background(), "INBOX", 0, [][]imap.UID{{2}}, nil,
		func(*imapbackend.Structure) imapbackend.PartsRequest { return imapbackend.PartsRequest{} },
		func(map[imap.UID]*imapbackend.Structure, map[imap.UID]imapbackend.PartsResult) {})
	if !errors.Is(err, imapbackend.ErrHostileResponse) {
		t.Errorf("structure of a message nested 3,000,000 deep over STARTTLS: %v, want ErrHostileResponse", err)
	}
	checkStillWorks(t, b)
}
