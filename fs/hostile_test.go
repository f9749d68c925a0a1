package fs_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imapfs/imapfs/cache"
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

// Issue 15, case 9: a server that answers a FETCH only with "* n EXISTS"
// every 10 ms held the read past --timeout (any byte counted). Now the
// read fails with EIO within the timeout, and the rest of the mount works.
func TestHostileExistsStorm(t *testing.T) {
	inbox := hostileInbox(3)
	big := "From: a@example.org\r\nSubject: big\r\n\r\n" + strings.Repeat("line of a big message\r\n", 100_000)
	inbox.Messages[1].Raw = []byte(big)
	h, m := mountHostile(t, imapfsfs.Options{}, inbox)
	h.Handle("FETCH", func(r *imaptest.HostileRequest) {
		if !strings.HasPrefix(r.Args, "2 ") || !strings.Contains(r.Args, "[TEXT]") {
			r.Default()
			return
		}
		for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if r.Printf("* 3 EXISTS") != nil {
				return
			}
		}
	})
	expectWorks(t, m.dir)
	expectFails(t, 3*hostileTimeout, "Input/output error", "cat", filepath.Join(m.dir, "INBOX", "2", "TEXT"))
	expectWorks(t, m.dir)
}

// Issue 15, case 10: a 1 GiB literal for BODY[HEADER] with a 16 MiB cache
// took 3.7 GB. Now a literal past the bound is refused before a byte of
// it is read: that message gives EIO, memory stays flat, the rest works.
func TestHostileHugeLiteral(t *testing.T) {
	inbox := hostileInbox(3)
	inbox.Messages[1].Items = map[string]func(io.Writer) error{"BODY[HEADER]": func(w io.Writer) error {
		const n = 1 << 30
		if _, err := fmt.Fprintf(w, "BODY[HEADER] {%d}\r\n", n); err != nil {
			return err
		}
		chunk := []byte(strings.Repeat("x", 1<<20))
		for left := n; left > 0; left -= len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return err
			}
		}
		return nil
	}}
	grown := imaptest.PeakRSS(t)
	_, m := mountHostile(t, imapfsfs.Options{Cache: cache.New(16 << 20)}, inbox)
	expectFails(t, 3*hostileTimeout, "Input/output error", "cat", filepath.Join(m.dir, "INBOX", "2", "HEADER"))
	expectWorks(t, m.dir)
	if g := grown(); g > 128<<20 {
		t.Errorf("peak RSS grew by %d MiB with a 16 MiB cache, want at most 128", g>>20)
	}
}

// Issue 15, case 9: on the IDLE connection an EXISTS storm drove ~700
// commands a second (an IDLE, a DONE and a folder reload per EXISTS). Now
// IDLE is ended at most once a second, and the mount sends a few commands
// a second.
func TestHostileIdleStorm(t *testing.T) {
	h, m := mountHostile(t, imapfsfs.Options{}, hostileInbox(3))
	h.Handle("IDLE", func(r *imaptest.HostileRequest) {
		if r.Printf("+ idling") != nil {
			return
		}
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			for end := time.Now().Add(time.Minute); time.Now().Before(end); {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				if r.Printf("* 3 EXISTS") != nil {
					return
				}
			}
		}()
		_, err := r.ReadLine() // DONE
		close(stop)
		<-done
		if err == nil {
			r.OK()
		}
	})
	expectWorks(t, m.dir) // INBOX listed, so that a change reloads it
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.fsys.Watch(ctx, 0, []string{"INBOX"})
	time.Sleep(500 * time.Millisecond) // connected, in IDLE
	before := h.Total()
	const span = 3 * time.Second
	time.Sleep(span)
	sent := h.Total() - before
	// At most one IDLE, its reload (SELECT, FETCH) and slack a second.
	if limit := 5 * int(span/time.Second); sent > limit {
		t.Errorf("%v of an EXISTS storm on the IDLE connection: %d commands, want at most %d", span, sent, limit)
	}
	if h.Count("IDLE") < 2 {
		t.Errorf("%d IDLE commands: the storm's changes were never reported", h.Count("IDLE"))
	}
	expectWorks(t, m.dir)
}
