package fs_test

import (
	"path/filepath"
	"slices"
	"strconv"
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
