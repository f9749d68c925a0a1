package fs_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	imapfsfs "github.com/imapfs/imapfs/fs"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// hostileTimeout is the backend timeout of the hostile-server tests.
const hostileTimeout = 2 * time.Second

// hostileInbox is INBOX with messages 1 to n, plain text.
func hostileInbox(n int) *imaptest.HostileMailbox {
	inbox := &imaptest.HostileMailbox{Name: "INBOX"}
	for uid := 1; uid <= n; uid++ {
		inbox.Messages = append(inbox.Messages, imaptest.SimpleMessage(uint32(uid), "message "+strconv.Itoa(uid)))
	}
	return inbox
}

// mountHostile starts a hostile server with the mailboxes given and mounts
// it; both are undone in t.Cleanup.
func mountHostile(t *testing.T, opts imapfsfs.Options, mailboxes ...*imaptest.HostileMailbox) (*imaptest.Hostile, mounted) {
	t.Helper()
	imaptest.RequireFUSE(t)
	h, err := imaptest.NewHostile(mailboxes...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, mountVia(t, h.Server(), h.Addr, hostileTimeout, opts)
}

// expectFails runs a tool that must fail with msg in its stderr within
// limit.
func expectFails(t *testing.T, limit time.Duration, msg string, name string, args ...string) {
	t.Helper()
	_, stderr, took, err := runFor(t, limit+5*time.Second, name, args...)
	if err == nil {
		t.Fatalf("%s %s succeeded, want %q", name, strings.Join(args, " "), msg)
	}
	if !strings.Contains(stderr, msg) {
		t.Errorf("%s %s failed with %q, want %q", name, strings.Join(args, " "), strings.TrimSpace(stderr), msg)
	}
	if took > limit {
		t.Errorf("%s %s took %v to fail, want at most %v", name, strings.Join(args, " "), took, limit)
	}
}

// expectWorks checks the rest of the mount: INBOX lists and message 1
// reads, within a few timeouts.
func expectWorks(t *testing.T, dir string) {
	t.Helper()
	out, stderr, _, err := runFor(t, 5*hostileTimeout, "ls", filepath.Join(dir, "INBOX"))
	if err != nil || !strings.Contains(out, "1\n") {
		t.Fatalf("ls INBOX after the hostile answer: %q %q %v", out, stderr, err)
	}
	out, stderr, _, err = runFor(t, 5*hostileTimeout, "cat", filepath.Join(dir, "INBOX", "1", "TEXT"))
	if err != nil || out != "body of 1\r\n" {
		t.Fatalf("cat INBOX/1/TEXT after the hostile answer: %q %q %v", out, stderr, err)
	}
}

// nested writes a BODYSTRUCTURE nested depth lists deep, without holding
// it in memory.
func nested(depth int) func(w io.Writer) error {
	return func(w io.Writer) error {
		if _, err := io.WriteString(w, "BODYSTRUCTURE "); err != nil {
			return err
		}
		chunk := strings.Repeat("(", 64<<10)
		for left := depth; left > 0; left -= len(chunk) {
			if _, err := io.WriteString(w, chunk[:min(left, len(chunk))]); err != nil {
				return err
			}
		}
		if _, err := io.WriteString(w, `"TEXT" "PLAIN" NIL NIL NIL "7BIT" 1 1`); err != nil {
			return err
		}
		chunk = strings.Repeat(")", 64<<10)
		for left := depth; left > 0; left -= len(chunk) {
			if _, err := io.WriteString(w, chunk[:min(left, len(chunk))]); err != nil {
				return err
			}
		}
		return nil
	}
}

// Issue 15, case 8: a BODYSTRUCTURE nested 3,000,000 deep overflowed
// go-imap's stack and took the mount down. Now that message gives EIO and
// the rest of the mount works.
func TestHostileDeepBodyStructure(t *testing.T) {
	inbox := hostileInbox(3)
	inbox.Messages[1].Items = map[string]func(io.Writer) error{"BODYSTRUCTURE": nested(3_000_000)}
	_, m := mountHostile(t, imapfsfs.Options{}, inbox)
	expectFails(t, 3*hostileTimeout, "Input/output error", "ls", filepath.Join(m.dir, "INBOX", "2"))
	expectWorks(t, m.dir)
	expectFails(t, 3*hostileTimeout, "Input/output error", "cat", filepath.Join(m.dir, "INBOX", "2", "TEXT"))
	expectWorks(t, m.dir)
}

var _ = fmt.Sprint
var _ = os.Getpid

// Issue 15, case 7: one mailbox name that is not valid modified UTF-7
// made the whole LIST fail, and every path of the mount gave EIO. Now such
// a name is listed escaped (its bytes as %XX, '&' as %26, so that it never
// collides with the decodable "Q&-A", shown as "Q&A"), opening it gives
// EIO, and the rest of the mount works.
func TestHostileMailboxNames(t *testing.T) {
	names := []string{"Q&A", "Ctl\x01x", "Nul\x00x", "Raw\xffbyte", "Good", "Q&-A", "Bad&Jjo/Child"}
	mailboxes := []*imaptest.HostileMailbox{hostileInbox(3)}
	for _, n := range names {
		mailboxes = append(mailboxes, &imaptest.HostileMailbox{Name: n})
	}
	_, m := mountHostile(t, imapfsfs.Options{}, mailboxes...)
	out, stderr, _, err := runFor(t, 5*hostileTimeout, "ls", "-1", m.dir)
	if err != nil {
		t.Fatalf("ls of the mount: %v %s", err, stderr)
	}
	want := "Bad%26Jjo\nCtl%01x\nGood\nINBOX\nNul%00x\nQ%26A\nQ&A\nRaw%FFbyte\n"
	if out != want {
		t.Errorf("ls of the mount:\n%s\nwant\n%s", out, want)
	}
	expectWorks(t, m.dir)
	for _, dir := range []string{"Q%26A", "Nul%00x", "Bad%26Jjo/Child"} {
		expectFails(t, 3*hostileTimeout, "Input/output error", "ls", filepath.Join(m.dir, dir))
	}
	for _, dir := range []string{"Good", "Q&A"} {
		if _, stderr, _, err := runFor(t, 5*hostileTimeout, "ls", filepath.Join(m.dir, dir)); err != nil {
			t.Errorf("ls %s: %v %s", dir, err, stderr)
		}
	}
	expectWorks(t, m.dir)
}
