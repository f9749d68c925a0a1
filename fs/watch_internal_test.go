package fs

import (
	"io"
	"log"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/imapfs/imapfs/imapbackend"
)

// TestPushTrust: a watched mailbox's IDLE is trusted only after a report
// that brought news within pushWindow of a listing that lacked it, or came
// within it of a change through the mount, and loses the trust when a
// STATUS check finds a change it let stand.
func TestPushTrust(t *testing.T) {
	snap := func(taken time.Time, uids ...uint32) *imapbackend.Snapshot {
		s := &imapbackend.Snapshot{Mailbox: "INBOX", UIDValidity: 1, Taken: taken}
		for _, u := range uids {
			s.Messages = append(s.Messages, imapbackend.MessageInfo{UID: imap.UID(u)})
		}
		return s
	}
	newFS := func() *FS {
		f := New(nil, Options{Logger: log.New(io.Discard, "", 0)})
		f.setLive("INBOX", true)
		return f
	}
	now := time.Now()
	for _, c := range []struct {
		name     string
		old, s   *imapbackend.Snapshot
		reported time.Time
		want     bool
	}{
		{"news soon after a listing", snap(now, 1), snap(now.Add(time.Second), 1, 2), now.Add(500 * time.Millisecond), true},
		{"news long after a listing", snap(now, 1), snap(now.Add(time.Minute), 1, 2), now.Add(time.Minute), false},
		{"no news (a flag change, or STATUS saw it first)", snap(now, 1, 2), snap(now.Add(time.Second), 1, 2), now.Add(500 * time.Millisecond), false},
		{"a listing taken after the report", snap(now.Add(time.Second), 1), snap(now.Add(2*time.Second), 1, 2), now, false},
	} {
		f := newFS()
		f.provePush("INBOX", c.reported, c.old, c.s)
		if got := f.pushes["INBOX"]; got != c.want {
			t.Errorf("%s: trusted %v, want %v", c.name, got, c.want)
		}
	}

	for _, ok := range []bool{true, false} {
		f := newFS()
		done := f.changingHere("INBOX") // a change through the mount
		done(ok)
		f.provePush("INBOX", time.Now().Add(100*time.Millisecond), nil, nil)
		if f.pushes["INBOX"] != ok {
			t.Errorf("a report right after a change through the mount that succeeded=%v: trusted %v", ok, !ok)
		}
	}

	f := newFS()
	f.provePush("INBOX", now.Add(100*time.Millisecond), snap(now, 1), snap(now.Add(time.Second), 1, 2))
	f.doubtPush("INBOX", snap(time.Now(), 1, 2), snap(time.Now(), 1, 2))
	if !f.pushes["INBOX"] {
		t.Error("a STATUS check that found nothing new took the trust back")
	}
	f.changedLive("INBOX") // a report after the listing below was taken
	f.doubtPush("INBOX", snap(now, 1, 2), snap(time.Now(), 1, 2, 3))
	if !f.pushes["INBOX"] {
		t.Error("a change IDLE had reported took the trust back")
	}
	f.doubtPush("INBOX", snap(time.Now(), 1, 2), snap(time.Now(), 1, 2, 3))
	if f.pushes["INBOX"] {
		t.Error("a change IDLE did not report left it trusted")
	}
}
