package fs_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"golang.org/x/sys/unix"

	imapfsfs "github.com/imapfs/imapfs/fs"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// refusals are the NO answers of real servers and the errno each must
// give: by response code, or by the words of servers that send none.
var refusals = []struct {
	name string
	code imap.ResponseCode
	text string
	want syscall.Errno
}{
	{"CANNOT", imap.ResponseCodeCannot, "Character not allowed in mailbox name: '~'", syscall.EINVAL},
	{"invalid name", "", "Invalid mailbox name", syscall.EINVAL}, // Courier
	{"NOPERM", imap.ResponseCodeNoPerm, "No permission to do that here", syscall.EACCES},
	{"permission denied", "", "Permission denied", syscall.EACCES}, // Cyrus
	{"OVERQUOTA", imap.ResponseCodeOverQuota, "Quota exceeded (mailbox for user is full)", syscall.EDQUOT},
	{"NONEXISTENT", imap.ResponseCodeNonExistent, "Mailbox doesn't exist", syscall.ENOENT},
	{"does not exist", "", "Mailbox does not exist", syscall.ENOENT}, // Cyrus
	{"ALREADYEXISTS", imap.ResponseCodeAlreadyExists, "Mailbox already exists", syscall.EEXIST},
	{"other", "", "Error in IMAP command", syscall.EIO},
}

// TestRefusalErrno: mkdir, rmdir, mv of a folder, mv of a message,
// setfattr of flags and an append through a rename each get the errno of
// the server's refusal, and the log keeps the server's text. A plain cp,
// whose APPEND goes at RELEASE after close(2) returned, succeeds; the
// refusal is in the log and .imapfs/status, and the file stays.
func TestRefusalErrno(t *testing.T) {
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			var refusing atomic.Bool
			srv := imaptest.NewMemoryWith(t, imaptest.MemoryOptions{Refuse: func(command, mailbox string) error {
				if !refusing.Load() {
					return nil
				}
				return &imap.Error{Type: imap.StatusResponseTypeNo, Code: r.code, Text: r.text + " (" + command + ")"}
			}})
			for _, name := range []string{"Victim", "Other"} {
				if err := srv.Create(name); err != nil {
					t.Fatal(err)
				}
			}
			uid, err := srv.Append("INBOX", []byte("Subject: kept\r\n\r\nbody\r\n"), nil, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			var logs syncBuffer
			m := mountServerWith(t, srv, imapfsfs.Options{Logger: log.New(&logs, "", 0)})
			inbox := filepath.Join(m.dir, "INBOX")
			msg := filepath.Join(inbox, fmt.Sprint(uid))
			if _, err := os.Stat(msg); err != nil {
				t.Fatal(err)
			}
			refusing.Store(true)

			ops := []struct {
				what    string
				command string // the command the server refuses
				do      func() error
			}{
				{"mkdir", "CREATE", func() error { return os.Mkdir(filepath.Join(m.dir, "New"), 0o755) }},
				{"rmdir", "RENAME", func() error { return unix.Rmdir(filepath.Join(m.dir, "Victim")) }},
				{"mv folder", "RENAME", func() error {
					return os.Rename(filepath.Join(m.dir, "Victim"), filepath.Join(m.dir, "Renamed"))
				}},
				{"mv message", "MOVE", func() error { return os.Rename(msg, filepath.Join(m.dir, "Other", "x")) }},
				{"setfattr user.imap.flags", "STORE", func() error {
					return unix.Setxattr(msg, "user.imap.flags", []byte(`\Seen \Flagged`), 0)
				}},
				{"cp then mv of a dot-file", "APPEND", func() error {
					staged := filepath.Join(inbox, ".note.eml")
					if err := os.WriteFile(staged, []byte("Subject: note\n\nhello\n"), 0o644); err != nil {
						return fmt.Errorf("write the dot-file: %w", err)
					}
					return os.Rename(staged, filepath.Join(inbox, "note.eml"))
				}},
			}
			for _, op := range ops {
				before := len(logs.String())
				err := op.do()
				if !errors.Is(err, r.want) {
					t.Errorf("%s refused with %s: got %v, want %v", op.what, r.name, err, r.want)
				}
				said := r.text + " (" + op.command + ")"
				if got := logs.String()[before:]; !strings.Contains(got, said) {
					t.Errorf("%s refused with %s: the log lacks the server's %q:\n%s", op.what, r.name, said, got)
				}
			}

			// A plain cp: close(2) has returned before the APPEND.
			plain := filepath.Join(inbox, "plain.eml")
			if err := os.WriteFile(plain, []byte("Subject: plain\n\nhello\n"), 0o644); err != nil {
				t.Fatalf("cp of a message: %v (the APPEND goes at RELEASE, after close)", err)
			}
			said := r.text + " (APPEND)"
			eventually(t, 10*time.Second, "the refused APPEND of plain.eml in the log", func() bool {
				return strings.Contains(logs.String(), "append plain.eml") && strings.Contains(logs.String(), said)
			})
			status, err := os.ReadFile(filepath.Join(m.dir, ".imapfs", "status"))
			if err != nil || !strings.Contains(string(status), "plain.eml") || !strings.Contains(string(status), said) {
				t.Errorf(".imapfs/status after a refused APPEND lacks the server's %q (%v):\n%s", said, err, status)
			}
			if _, err := os.Stat(plain); err != nil {
				t.Errorf("the refused file must stay under its name: %v", err)
			}
			if strings.Contains(logs.String(), "connection") {
				t.Errorf("a refusal was logged as a connection problem:\n%s", logs.String())
			}
		})
	}
}

// TestAppendRefusedBeforeLiteral: a server that refuses an APPEND before
// taking its literal (Dovecot over quota: NO instead of "+") gives EDQUOT
// to the mv that sends it and the server's text in the log, not a lost
// connection (go-imap drops the connection after such an answer).
func TestAppendRefusedBeforeLiteral(t *testing.T) {
	var logs syncBuffer
	h, m := mountHostile(t, imapfsfs.Options{Logger: log.New(&logs, "", 0)}, hostileInbox(1))
	h.RefuseLiteral("APPEND", "NO [OVERQUOTA] Quota exceeded (mailbox for user is full)")
	inbox := filepath.Join(m.dir, "INBOX")
	staged := filepath.Join(inbox, ".note.eml")
	if err := os.WriteFile(staged, []byte("Subject: note\n\nhello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := os.Rename(staged, filepath.Join(inbox, "note.eml"))
	if !errors.Is(err, syscall.EDQUOT) {
		t.Errorf("mv of a dot-file refused over quota: got %v, want %v", err, syscall.EDQUOT)
	}
	if got := h.Count("APPEND"); got != 1 {
		t.Errorf("the refused APPEND was sent %d times, want once", got)
	}
	out := logs.String()
	if !strings.Contains(out, "Quota exceeded (mailbox for user is full)") {
		t.Errorf("the log lacks the server's text:\n%s", out)
	}
	if strings.Contains(out, "connection") {
		t.Errorf("a refusal was logged as a connection problem:\n%s", out)
	}
	expectWorks(t, m.dir)
}

// TestRefusalErrnoDovecot: a real server's refusals through the mount.
// Dovecot refuses a name starting with '~' with [CANNOT] (EINVAL), and the
// RENAME of a folder deleted by another client with [NONEXISTENT]
// (ENOENT: the mount's list, kept for ListTTL, still had it).
func TestRefusalErrnoDovecot(t *testing.T) {
	srv := imaptest.NewDovecot(t, imaptest.DovecotOptions{Delimiter: '/'})
	if err := srv.Create("Victim"); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	m := mountServerWith(t, srv, imapfsfs.Options{ListTTL: time.Hour, Logger: log.New(&logs, "", 0)})
	err := os.Mkdir(filepath.Join(m.dir, "~x"), 0o755)
	if !errors.Is(err, syscall.EINVAL) {
		t.Errorf("mkdir ~x on Dovecot: got %v, want %v", err, syscall.EINVAL)
	}
	if !strings.Contains(logs.String(), "Begins with '~'") {
		t.Errorf("the log lacks Dovecot's reason for refusing ~x:\n%s", logs.String())
	}
	run(t, "ls", m.dir) // the mount's list now holds Victim
	c, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Delete("Victim").Wait(); err != nil {
		t.Fatal(err)
	}
	err = os.Rename(filepath.Join(m.dir, "Victim"), filepath.Join(m.dir, "Renamed"))
	if !errors.Is(err, syscall.ENOENT) {
		t.Errorf("mv of a folder deleted elsewhere on Dovecot: got %v, want %v", err, syscall.ENOENT)
	}
	if !strings.Contains(logs.String(), "Mailbox doesn't exist: Victim") {
		t.Errorf("the log lacks Dovecot's reason for refusing the RENAME:\n%s", logs.String())
	}
}
