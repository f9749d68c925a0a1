package imapbackend_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/imapfs/imapfs/imapbackend"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// BenchmarkSnapshotMemory reports the heap a folder listing keeps per
// message (bytes/msg), and how long listing 20,000 messages takes.
func BenchmarkSnapshotMemory(b *testing.B) {
	const n = 20000
	srv := imaptest.NewMemory(b)
	c, err := srv.Dial()
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Create("Bulk", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		msg := fmt.Sprintf("From: bulk@example.org\r\nSubject: bulk %d\r\n\r\nmessage %d\r\n", i, i)
		var flags []imap.Flag
		if i%2 == 0 {
			flags = []imap.Flag{imap.FlagSeen}
		}
		cmd := c.Append("Bulk", int64(len(msg)), &imap.AppendOptions{Flags: flags, Time: time.Now()})
		cmd.Write([]byte(msg))
		cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	acct, err := imapbackend.ParseURL("imap+insecure://" + srv.Username + "@" + srv.Addr)
	if err != nil {
		b.Fatal(err)
	}
	backend, err := imapbackend.Open(context.Background(), imapbackend.Config{Account: acct, Password: srv.Password})
	if err != nil {
		b.Fatal(err)
	}
	defer backend.Close()
	b.ResetTimer()
	var perMessage float64
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		snap, err := backend.Snapshot(context.Background(), "Bulk")
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if len(snap.Messages) != n {
			b.Fatalf("listed %d messages, want %d", len(snap.Messages), n)
		}
		perMessage = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
		runtime.KeepAlive(snap)
	}
	b.ReportMetric(perMessage, "bytes/msg")
}

// TestSnapshotWithoutUIDNextInSelect: a SELECT answer without OK [UIDNEXT]
// (Courier) still gives the snapshot the mailbox's UIDNEXT, which STATUS
// compares with, and its UIDVALIDITY.
func TestSnapshotWithoutUIDNextInSelect(t *testing.T) {
	srv := imaptest.NewMemoryWith(t, imaptest.MemoryOptions{SelectWithoutUIDNext: true})
	uid, err := srv.Append("INBOX", []byte("Subject: a\r\n\r\nb\r\n"), nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := openThroughProxy(t, srv)
	snap, err := b.Snapshot(context.Background(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	st, err := b.Status(context.Background(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if snap.UIDNext <= uid || snap.UIDNext != st.UIDNext || snap.UIDValidity != st.UIDValidity || snap.UIDValidity == 0 {
		t.Errorf("snapshot UIDNEXT %d UIDVALIDITY %d, STATUS %d %d; want STATUS's, past UID %d", snap.UIDNext, snap.UIDValidity, st.UIDNext, st.UIDValidity, uid)
	}
}
