package fs_test

import (
	"context"
	"errors"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	imapfsfs "github.com/imapfs/imapfs/fs"
	"github.com/imapfs/imapfs/imapbackend"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// eventually polls cond every 50 ms until it holds or limit passes, and
// returns how long it took. The limit is generous: the figure that matters
// is logged, not asserted, since shared machines stall.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not after %v", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

func expungeElsewhere(t *testing.T, m *mount, mailbox string, uid imap.UID) {
	t.Helper()
	c, err := m.srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Select(mailbox, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.UIDExpunge(imap.UIDSetNum(uid)).Close(); err != nil {
		t.Fatal(err)
	}
}

// TestChangesElsewhereShow: with INBOX watched by IDLE and Work polled,
// messages expunged and added by another client show without a remount,
// and flags changed elsewhere show in user.imap.flags.
func TestChangesElsewhereShow(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		m.fsys.Watch(ctx, 500*time.Millisecond, []string{"INBOX"})
		inbox := uids(t, m.srv, "INBOX")
		victim := msgPath(m, "INBOX", inbox[2])
		run(t, "ls", m.mailboxPath("INBOX"))
		if _, err := os.Stat(victim); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // let the watcher enter IDLE
		expungeElsewhere(t, m, "INBOX", inbox[2])
		took := eventually(t, 10*time.Second, "message expunged elsewhere still there", func() bool {
			_, err := os.Stat(victim)
			return errors.Is(err, os.ErrNotExist)
		})
		t.Logf("expunge elsewhere gone from the mount (IDLE) after %v", took)

		newInbox, err := m.srv.Append("INBOX", []byte("Subject: new in INBOX\r\n\r\nhi\r\n"), nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		took = eventually(t, 10*time.Second, "new message in INBOX not listed", func() bool {
			return slices.Contains(lines(run(t, "ls", m.mailboxPath("INBOX"))), strconv.Itoa(int(newInbox)))
		})
		t.Logf("new mail elsewhere in INBOX (IDLE) listed after %v", took)

		work := m.serverName("Work")
		run(t, "ls", m.mailboxPath(work))
		uid, err := m.srv.Append(work, []byte("Subject: new elsewhere\r\n\r\nhi\r\n"), nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		took = eventually(t, 10*time.Second, "new message not listed", func() bool {
			return slices.Contains(lines(run(t, "ls", m.mailboxPath(work))), strconv.Itoa(int(uid)))
		})
		t.Logf("new mail elsewhere listed after %v", took)

		flagged := msgPath(m, "INBOX", inbox[3])
		storeFlags(t, m.srv, "INBOX", inbox[3], imap.StoreFlagsAdd, imap.FlagFlagged)
		if got := xattr(t, flagged, "user.imap.flags"); !strings.Contains(got, `\Flagged`) {
			t.Errorf("flags after a change elsewhere = %q", got)
		}
		if _, err := os.Stat(filepath.Join(flagged, "HEADER")); err != nil {
			t.Errorf("an unchanged message is gone: %v", err)
		}
	})
}

// TestWatchedListingIsTrusted: once INBOX's IDLE has reported a change
// as it happened, listing INBOX again after the list TTL sends nothing
// (the server would have said if it changed), while a folder that is only
// polled asks STATUS, and neither asks LIST again; a change elsewhere
// still shows in the watched folder.
func TestWatchedListingIsTrusted(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		m.fsys.Watch(ctx, 0, []string{"INBOX"})
		time.Sleep(300 * time.Millisecond) // let the watcher enter IDLE
		showPushes(t, m, "INBOX")
		inbox, work := m.mailboxPath("INBOX"), m.mailboxPath(m.serverName("Work"))
		first, firstWork := run(t, "ls", inbox), run(t, "ls", work)
		// Past the 1 s list TTL; listed once more in case the watcher was
		// not live yet at the first listing, on a slow machine.
		time.Sleep(1200 * time.Millisecond)
		run(t, "ls", inbox)
		time.Sleep(1200 * time.Millisecond)
		m.proxy.Reset()
		if again := run(t, "ls", inbox); again != first {
			t.Errorf("second ls of INBOX = %q, want %q", again, first)
		}
		if n := m.proxy.Total(); n != 0 {
			t.Errorf("second ls of the watched INBOX sent %d commands %v, want none", n, m.proxy.Commands())
		}
		m.proxy.Reset()
		if again := run(t, "ls", work); again != firstWork {
			t.Errorf("second ls of Work = %q, want %q", again, firstWork)
		}
		if cmds := m.proxy.Commands(); cmds["STATUS"] != 1 || cmds["LIST"] != 0 || cmds["UID FETCH"] != 0 {
			t.Errorf("second ls of the polled Work sent %v, want one STATUS and no LIST or FETCH", cmds)
		}
		uid, err := m.srv.Append("INBOX", []byte("Subject: new in INBOX\r\n\r\nhi\r\n"), nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "new message in the watched INBOX not listed", func() bool {
			return slices.Contains(lines(run(t, "ls", inbox)), strconv.Itoa(int(uid)))
		})
	})
}

// TestDropCaches: after SIGHUP's DropCaches the next read fetches again.
func TestDropCaches(t *testing.T) {
	m := mountServer(t, servers(t)["memory"](t))
	file := filepath.Join(m.dir, "INBOX", "2", "2")
	run(t, "cat", file)
	m.fsys.DropCaches()
	m.proxy.Reset()
	// A new open: the kernel may keep its page cache, imapfs may not keep
	// its own, so read another file of the same message.
	run(t, "cat", filepath.Join(m.dir, "INBOX", "2", "attachments", "invoice-2026-11.pdf"))
	if n := m.proxy.Commands()["UID FETCH"]; n == 0 {
		t.Error("after DropCaches a read fetched nothing")
	}
}

// TestUIDValidityChange: a mailbox deleted and created again elsewhere
// (new UIDVALIDITY, UIDs counting from 1 again) shows its new messages,
// never content cached for the old ones under the same UID.
func TestUIDValidityChange(t *testing.T) {
	m := mountServer(t, servers(t)["dovecot-slash"](t))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	m.fsys.Watch(ctx, 500*time.Millisecond, nil)
	old := run(t, "cat", filepath.Join(m.dir, "Work", "1", "HEADER"))
	c, err := m.srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Delete("Work/Projects").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("Work").Wait(); err != nil {
		t.Fatal(err)
	}
	msg := "From: new@example.org\r\nSubject: after the recreation\r\n\r\nnew body\r\n"
	if _, err := m.srv.Append("Work", []byte(msg), nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	header := filepath.Join(m.dir, "Work", "1", "HEADER")
	eventually(t, 10*time.Second, "the recreated mailbox's message 1", func() bool {
		got, err := os.ReadFile(header)
		return err == nil && strings.Contains(string(got), "after the recreation")
	})
	if got, _ := os.ReadFile(header); string(got) == old {
		t.Error("stale HEADER served after UIDVALIDITY changed")
	}
	if ls := lines(run(t, "ls", filepath.Join(m.dir, "Work"))); !slices.Equal(ls, []string{"1"}) {
		t.Errorf("ls Work after recreation = %v, want [1]", ls)
	}
}

// TestNoGoroutineLeakAfterUnmount mounts, reads, watches, unmounts and
// closes, and checks that the goroutines started are gone.
func TestNoGoroutineLeakAfterUnmount(t *testing.T) {
	imaptest.RequireFUSE(t)
	srv := servers(t)["memory"](t)
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()
	acct, _ := imapbackend.ParseURL("imap+insecure://" + srv.Username + "@" + srv.Addr)
	backend, err := imapbackend.Open(context.Background(), imapbackend.Config{Account: acct, Password: srv.Password})
	if err != nil {
		t.Fatal(err)
	}
	fsys := imapfsfs.New(backend, imapfsfs.Options{})
	dir := t.TempDir()
	server, err := fsys.Mount(dir, imapfsfs.MountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	fsys.Watch(ctx, 100*time.Millisecond, []string{"INBOX"})
	run(t, "grep", "-r", "zanzibarquokka", filepath.Join(dir, "INBOX"))
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := server.Unmount(); err != nil {
		t.Fatal(err)
	}
	backend.Close()
	var after int
	eventually(t, 10*time.Second, "goroutines to end", func() bool {
		after = runtime.NumGoroutine()
		return after <= before
	})
	t.Logf("goroutines: %d before mounting, %d after unmounting", before, after)
}

// TestFolderDeletedElsewhereLeavesTheTree: a folder deleted by another
// client leaves `ls` of its parent and the kernel's cache (the entry
// would otherwise live for ListTTL, an hour here), and the poll stops
// checking it: once it is gone, the mount sends nothing at all.
func TestFolderDeletedElsewhereLeavesTheTree(t *testing.T) {
	all := servers(t)
	for _, name := range []string{"memory", "dovecot-slash"} {
		t.Run(name, func(t *testing.T) { testFolderDeletedElsewhere(t, all[name](t)) })
	}
}

func testFolderDeletedElsewhere(t *testing.T, srv *imaptest.Server) {
	if err := srv.Create("Gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Append("Gone", []byte("Subject: doomed\r\n\r\nbody\r\n"), nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	m := mountServerWith(t, srv, imapfsfs.Options{ListTTL: time.Hour, Logger: log.New(&logs, "", 0)})
	const poll = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	m.fsys.Watch(ctx, poll, nil)
	gone := filepath.Join(m.dir, "Gone")
	if !slices.Contains(lines(run(t, "ls", m.dir)), "Gone") {
		t.Fatal("Gone not listed before its deletion")
	}
	if got := lines(run(t, "ls", gone)); !slices.Equal(got, []string{"1"}) {
		t.Fatalf("ls Gone: %v, want [1]", got) // now the poll checks it
	}

	c, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Delete("Gone").Wait(); err != nil {
		t.Fatal(err)
	}
	// Both checks are reported, not only the first to fail.
	listed, cached := true, true
	for start := time.Now(); (listed || cached) && time.Since(start) < 20*time.Second; time.Sleep(50 * time.Millisecond) {
		listed = slices.Contains(lines(run(t, "ls", m.dir)), "Gone")
		_, err := os.Stat(gone)
		cached = !errors.Is(err, os.ErrNotExist)
	}
	if listed {
		t.Errorf("ls of the root still lists Gone 20 s after its deletion elsewhere")
	}
	if cached {
		t.Errorf("stat Gone still finds it 20 s after its deletion elsewhere: the kernel was not told")
	}

	m.proxy.Reset()
	time.Sleep(10 * poll)
	if n := m.proxy.Total(); n != 0 {
		t.Errorf("%d commands in %v after the folder left the tree, want none: %v", n, 10*poll, m.proxy.Commands())
	}
	if n := strings.Count(logs.String(), `check "Gone"`); n > 1 {
		t.Errorf("the deleted folder was reported %d times, want once:\n%s", n, logs.String())
	}
}
