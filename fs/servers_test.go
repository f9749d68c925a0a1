package fs_test

import (
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"golang.org/x/sys/unix"

	"github.com/imapfs/imapfs"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// seededMemory is a memory server with the sample mail and the given
// quirks, closed when the test ends.
func seededMemory(t *testing.T, opts imaptest.MemoryOptions) *imaptest.Server {
	t.Helper()
	srv := imaptest.NewMemoryWith(t, opts)
	if err := srv.Seed(imapfs.SampleMail, "testdata/mail"); err != nil {
		t.Fatal(err)
	}
	return srv
}

// getxattr reads one extended attribute through the syscall.
func getxattr(t *testing.T, path, name string) string {
	t.Helper()
	buf := make([]byte, 256)
	n, err := unix.Getxattr(path, name, buf)
	if err != nil {
		t.Fatalf("getxattr %s %s: %v", path, name, err)
	}
	return string(buf[:n])
}

// TestMailboxOperationsWithoutUnselect: on a server without UNSELECT
// (Courier), mkdir, rmdir and mv of folders and the folder xattrs work
// while the mount's connection has a folder selected, the very folder
// acted on included, and UNSELECT is never sent.
func TestMailboxOperationsWithoutUnselect(t *testing.T) {
	srv := seededMemory(t, imaptest.MemoryOptions{Without: []imap.Cap{imap.CapUnselect}})
	m := mountServer(t, srv)
	inbox := m.mailboxPath("INBOX")
	run(t, "ls", inbox) // INBOX is selected now
	if got := getxattr(t, inbox, "user.imap.messages"); got != strconv.Itoa(len(uids(t, srv, "INBOX"))) {
		t.Errorf("user.imap.messages of INBOX = %q", got)
	}
	if got := getxattr(t, inbox, "user.imap.uidnext"); got == "" || got == "0" {
		t.Errorf("user.imap.uidnext of INBOX = %q", got)
	}
	run(t, "mkdir", filepath.Join(m.dir, "New"))
	run(t, "ls", filepath.Join(m.dir, "New")) // New is selected now
	run(t, "rmdir", filepath.Join(m.dir, "New"))
	run(t, "ls", filepath.Join(m.dir, "Work", "Projects"))
	run(t, "mv", filepath.Join(m.dir, "Work", "Projects"), filepath.Join(m.dir, "Projects2"))
	run(t, "ls", inbox)
	run(t, "mkdir", filepath.Join(m.dir, "Other"))
	run(t, "mv", filepath.Join(m.dir, "Other"), filepath.Join(m.dir, "Other2"))
	run(t, "rmdir", filepath.Join(m.dir, "Other2"))
	names := mailboxNames(t, srv)
	if slices.Contains(names, "New") || slices.Contains(names, "Work/Projects") || !slices.Contains(names, "Projects2") ||
		slices.Contains(names, "Other") || slices.Contains(names, "Other2") {
		t.Errorf("mailboxes after mkdir, rmdir and mv: %v", names)
	}
	if n := len(uids(t, srv, "Projects2")); n != 2 {
		t.Errorf("the renamed folder holds %d messages, want 2", n)
	}
	cmds := m.proxy.Commands()
	if cmds["UNSELECT"] != 0 || cmds["CLOSE"] == 0 {
		t.Errorf("commands %v: want no UNSELECT, and CLOSE to leave the folders acted on", cmds)
	}
}

// TestSelectWithoutUIDNext: on a server whose SELECT answer has no
// OK [UIDNEXT] (Courier), a second ls of an unchanged folder past the list
// TTL checks STATUS and fetches nothing.
func TestSelectWithoutUIDNext(t *testing.T) {
	srv := seededMemory(t, imaptest.MemoryOptions{SelectWithoutUIDNext: true})
	m := mountServer(t, srv)
	inbox := m.mailboxPath("INBOX")
	first := run(t, "ls", inbox)
	time.Sleep(1200 * time.Millisecond) // past the 1 s list TTL
	m.proxy.Reset()
	if again := run(t, "ls", inbox); again != first {
		t.Errorf("second ls = %q, want %q", again, first)
	}
	if cmds := m.proxy.Commands(); cmds["UID FETCH"] != 0 || cmds["STATUS"] != 1 {
		t.Errorf("second ls of an unchanged folder sent %v, want one STATUS and no UID FETCH", cmds)
	}
}

// TestIdleThatNeverPushes: with INBOX watched by an IDLE that reports
// nothing while it lasts (Courier and Cyrus without their notification
// daemons poll every 60 s), mail another client appends to INBOX still
// shows within moments, as in a folder that is only polled.
func TestIdleThatNeverPushes(t *testing.T) {
	srv := seededMemory(t, imaptest.MemoryOptions{IdleNeverPushes: true})
	m := mountServer(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	m.fsys.Watch(ctx, 0, []string{"INBOX"})
	inbox := m.mailboxPath("INBOX")
	time.Sleep(300 * time.Millisecond) // let the watcher enter IDLE
	run(t, "ls", inbox)
	// Past the list TTL, once more, so that a listing is held from while
	// IDLE was live even on a slow machine.
	time.Sleep(1200 * time.Millisecond)
	run(t, "ls", inbox)
	uid, err := srv.Append("INBOX", []byte("Subject: new in INBOX\r\n\r\nhi\r\n"), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	took := eventually(t, 15*time.Second, "new message in INBOX not listed", func() bool {
		return slices.Contains(lines(run(t, "ls", inbox)), strconv.Itoa(int(uid)))
	})
	t.Logf("new mail in INBOX under an IDLE that never pushes listed after %v", took)
	if m.fsys.PushesShown("INBOX") {
		t.Error("an IDLE that never pushed is trusted")
	}
}

// showPushes has another client append to a watched mailbox, right after
// a listing, until the mount has seen IDLE report it as it happened, from
// which moment the mailbox's listing is trusted while IDLE is up. Nothing
// lists the mailbox while the report is awaited, so it brings the news.
func showPushes(t *testing.T, m *mount, mailbox string) {
	t.Helper()
	var last time.Time
	eventually(t, 20*time.Second, "IDLE never shown to push", func() bool {
		if m.fsys.PushesShown(mailbox) {
			return true
		}
		if time.Since(last) > 3*time.Second { // the watcher may not have been live yet
			last = time.Now()
			run(t, "ls", m.mailboxPath(mailbox))
			if _, err := m.srv.Append(mailbox, []byte("Subject: pushed?\r\n\r\nhi\r\n"), nil, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		return false
	})
}

// TestOwnChangeShowsPushes: a change made through the mount (here flags
// set with setfattr) that the watched folder's IDLE reports at once shows
// that the server pushes; on a server whose IDLE never pushes the same
// change proves nothing.
func TestOwnChangeShowsPushes(t *testing.T) {
	for _, quiet := range []bool{false, true} {
		srv := seededMemory(t, imaptest.MemoryOptions{IdleNeverPushes: quiet})
		m := mountServer(t, srv)
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		m.fsys.Watch(ctx, 0, []string{"INBOX"})
		time.Sleep(300 * time.Millisecond) // let the watcher enter IDLE
		msg := msgPath(m, "INBOX", uids(t, srv, "INBOX")[0])
		var last time.Time
		shown := func() bool {
			if m.fsys.PushesShown("INBOX") {
				return true
			}
			if time.Since(last) > 3*time.Second { // the watcher may not have been live yet
				last = time.Now()
				flags := `\Flagged`
				if strings.Contains(xattr(t, msg, "user.imap.flags"), flags) {
					flags = `\Seen`
				}
				run(t, "setfattr", "-n", "user.imap.flags", "-v", flags, msg)
			}
			return false
		}
		if !quiet {
			eventually(t, 20*time.Second, "a flag change through the mount, reported by IDLE, showed nothing", shown)
			continue
		}
		for end := time.Now().Add(4 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if shown() {
				t.Fatal("an IDLE that never pushes is trusted after a change through the mount")
			}
		}
	}
}
