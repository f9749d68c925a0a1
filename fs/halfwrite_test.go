package fs_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	imapfsfs "github.com/imapfs/imapfs/fs"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// Writes that must not half-happen (issue 15): an APPEND once per written
// file, at its last close; staged dot-files; cp -r of message directories;
// mv without MOVE that checks before it copies; rmdir against delivery.

// forEachServerWith is forEachServer with mount options.
func forEachServerWith(t *testing.T, opts imapfsfs.Options, test func(t *testing.T, m *mount)) {
	all := servers(t)
	for _, name := range []string{"memory", "dovecot-slash", "dovecot-dot"} {
		t.Run(name, func(t *testing.T) {
			test(t, mountServerWith(t, all[name](t), opts))
		})
	}
}

// soon polls cond until it holds or 10 s pass: the APPEND of a file
// happens at RELEASE, which the kernel sends after close(2) returned.
func soon(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventually(t, 10*time.Second, what, cond)
}

func gone(path string) func() bool {
	return func() bool {
		_, err := os.Lstat(path)
		return errors.Is(err, os.ErrNotExist)
	}
}

// settle gives a wrongly late APPEND the chance to show.
func settle() { time.Sleep(300 * time.Millisecond) }

func bodies(t *testing.T, srv *imaptest.Server, mailbox string) []string {
	t.Helper()
	c := examine(t, srv, mailbox)
	defer c.Close()
	var out []string
	for _, uid := range uids(t, srv, mailbox) {
		out = append(out, string(fetchSection(t, c, uid, &imap.FetchItemBodySection{Peek: true})))
	}
	return out
}

// TestAppendOnceAtLastClose: a shell's child closes its copy of the
// descriptor (FLUSH) before the message is complete; only the last close
// appends, once, the whole message.
func TestAppendOnceAtLastClose(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		before := bodies(t, m.srv, "INBOX")
		path := filepath.Join(m.mailboxPath("INBOX"), "x.eml")
		m.proxy.Reset()
		run(t, "sh", "-c", `{ printf 'From: a@b\nSubject: t\n\nfirst\n'; sleep 1; printf 'second\n'; } > `+path)
		soon(t, "x.eml goes away", gone(path))
		soon(t, "one message appended", func() bool { return len(uids(t, m.srv, "INBOX")) > len(before) })
		settle()
		after := bodies(t, m.srv, "INBOX")
		if len(after) != len(before)+1 {
			t.Fatalf("INBOX has %d messages, want %d: one APPEND", len(after), len(before)+1)
		}
		if want := "From: a@b\r\nSubject: t\r\n\r\nfirst\r\nsecond\r\n"; after[len(after)-1] != want {
			t.Errorf("appended %q, want %q", after[len(after)-1], want)
		}
		if n := m.proxy.Commands()["APPEND"]; n != 1 {
			t.Errorf("%d APPEND sent, want 1", n)
		}
	})
}

// TestAppendDotFileOnRename: the rename convention. A dot-file is
// appended when renamed to a name without the dot, and mv reports the
// outcome; a killed writer of a dot-file appends nothing.
func TestAppendDotFileOnRename(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		inbox := m.mailboxPath("INBOX")
		before := len(uids(t, m.srv, "INBOX"))
		m.proxy.Reset()

		// A writer killed half-way through a dot-file appends nothing.
		partial := filepath.Join(inbox, ".y.eml")
		cmd := exec.Command("sh", "-c", `exec 3>`+partial+`; printf 'From: a@b\nSubject: partial\n\nhalf of' >&3; kill -9 $$`)
		if err := cmd.Run(); err == nil {
			t.Fatal("the writer was not killed")
		}
		settle()
		if n := len(uids(t, m.srv, "INBOX")); n != before {
			t.Errorf("a killed writer of a dot-file appended: %d messages, want %d", n, before)
		}
		// It stays, local to the mount, until removed.
		if !slices.Contains(lines(run(t, "ls", "-a", inbox)), ".y.eml") {
			t.Error("the staged dot-file is not listed")
		}
		if _, err := os.Lstat(partial); err == nil {
			run(t, "rm", partial)
		}
		if !gone(partial)() {
			t.Error("rm of the staged dot-file left it")
		}
		if n := m.proxy.Commands()["APPEND"]; n != 0 {
			t.Errorf("%d APPEND sent for a killed writer of a dot-file, want none", n)
		}

		// cp to a dot-file, then mv to the real name: one APPEND, at the mv.
		before = len(uids(t, m.srv, "INBOX"))
		m.proxy.Reset()
		src := filepath.Join(t.TempDir(), "x.eml")
		msg := "From: me@example.org\nSubject: renamed\n\nwhole\n"
		if err := os.WriteFile(src, []byte(msg), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, "sh", "-c", "cp "+src+" "+inbox+"/.x.eml && mv "+inbox+"/.x.eml "+inbox+"/x.eml")
		// mv returned once the APPEND was answered.
		if n := len(uids(t, m.srv, "INBOX")); n != before+1 {
			t.Fatalf("after cp .x.eml && mv: %d messages, want %d", n, before+1)
		}
		soon(t, "x.eml goes away", gone(filepath.Join(inbox, "x.eml")))
		if _, err := os.Lstat(filepath.Join(inbox, ".x.eml")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf(".x.eml after the rename: %v", err)
		}
		settle()
		if got := bodies(t, m.srv, "INBOX"); len(got) != before+1 || got[len(got)-1] != strings.ReplaceAll(msg, "\n", "\r\n") {
			t.Errorf("INBOX holds %d messages, last %q", len(got), got[len(got)-1])
		}
		if n := m.proxy.Commands()["APPEND"]; n != 1 {
			t.Errorf("%d APPEND sent, want 1", n)
		}

		// A message built with several opens (>>) in a dot-file, then
		// renamed: one APPEND of all of it.
		run(t, "sh", "-c", "cd "+inbox+" && echo 'From: a@b' > .z.eml && echo 'Subject: built' >> .z.eml && printf '\\nbody\\n' >> .z.eml && mv .z.eml z.eml")
		if got := bodies(t, m.srv, "INBOX"); len(got) != before+2 || got[len(got)-1] != "From: a@b\r\nSubject: built\r\n\r\nbody\r\n" {
			t.Errorf("after >> into a dot-file and mv: %d messages (want %d), last %q", len(got), before+2, got[len(got)-1])
		}
		if n := m.proxy.Commands()["APPEND"]; n != 2 {
			t.Errorf("%d APPEND sent, want 2", n)
		}
	})
}

// TestAppendNonMessageRefused: the check at close still reaches cp, and
// nothing is appended, neither at once nor on a later rename.
func TestAppendNonMessageRefused(t *testing.T) {
	srv := servers(t)["memory"](t)
	m := mountServer(t, srv)
	inbox := m.mailboxPath("INBOX")
	junk := filepath.Join(t.TempDir(), "photo.jpg")
	if err := os.WriteFile(junk, []byte("\xff\xd8\xff\xe0 not a mail message\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := fails(t, "cp", junk, inbox+"/"); !strings.Contains(out, "Invalid argument") {
		t.Errorf("cp of a non-message: %q, want EINVAL", out)
	}
	soon(t, "photo.jpg goes away", gone(filepath.Join(inbox, "photo.jpg")))
	fails(t, "cp", junk, inbox+"/.photo.jpg")
	if out := fails(t, "mv", inbox+"/.photo.jpg", inbox+"/photo.jpg"); !strings.Contains(out, "Bad message") {
		t.Errorf("mv of a staged non-message: %q, want EBADMSG", out)
	}
	settle()
	if n := m.proxy.Commands()["APPEND"]; n != 0 {
		t.Errorf("%d APPEND of a non-message", n)
	}
}

// TestMoveWithoutMoveOrUIDPlusChecksFirst: without MOVE and UIDPLUS a
// move is COPY then a plain EXPUNGE, unsafe while another message is
// \Deleted; it must be refused before the COPY, however often it is
// retried.
func TestMoveWithoutMoveOrUIDPlusChecksFirst(t *testing.T) {
	srv := imaptest.NewMemoryWith(t, imaptest.MemoryOptions{Without: []imap.Cap{imap.CapMove, imap.CapUIDPlus}})
	if err := srv.Create("Work"); err != nil {
		t.Fatal(err)
	}
	m := mountServer(t, srv)
	a, b := appendTwo(t, srv)
	storeFlags(t, srv, "INBOX", a, imap.StoreFlagsAdd, imap.FlagDeleted)
	work := m.mailboxPath("Work")
	for range 2 {
		if out := fails(t, "mv", msgPath(m, "INBOX", b), work+"/"); !strings.Contains(out, "busy") {
			t.Errorf("mv while another message is \\Deleted: %q, want EBUSY", out)
		}
	}
	if got := uids(t, srv, "Work"); len(got) != 0 {
		t.Errorf("the refused moves left %d copies in Work", len(got))
	}
	if c := m.proxy.Commands(); c["UID COPY"]+c["COPY"] != 0 || c["EXPUNGE"] != 0 {
		t.Errorf("refused moves sent %v", c)
	}
	if flags, ok := flagsOf(t, srv, "INBOX", b); !ok || slices.Contains(flags, imap.FlagDeleted) {
		t.Errorf("the message after the refused moves: exists %v, flags %v", ok, flags)
	}
	storeFlags(t, srv, "INBOX", a, imap.StoreFlagsDel, imap.FlagDeleted)
	run(t, "mv", msgPath(m, "INBOX", b), work+"/")
	if got := uids(t, srv, "Work"); len(got) != 1 {
		t.Errorf("Work holds %d messages after the move, want 1", len(got))
	}
	if _, ok := flagsOf(t, srv, "INBOX", b); ok {
		t.Error("the moved message stays in INBOX")
	}
	if _, ok := flagsOf(t, srv, "INBOX", a); !ok {
		t.Error("the other message was expunged")
	}
}

// TestCopyMessageDirectory: cp -r of a message directory copies the
// message, once and exactly, and creates no mailbox; so does cp -r of a
// whole folder into a new one.
func TestCopyMessageDirectory(t *testing.T) {
	forEachServerWith(t, imapfsfs.Options{StageTimeout: 500 * time.Millisecond}, func(t *testing.T, m *mount) {
		mailboxes := mailboxNames(t, m.srv)
		before := uids(t, m.srv, "Archive")
		if slices.Contains(before, 5) || !slices.Contains(uids(t, m.srv, "INBOX"), 5) {
			t.Fatalf("the sample mail changed: Archive %v", before)
		}
		m.proxy.Reset()
		run(t, "sh", "-c", "cd "+m.dir+" && cp -r INBOX/5 Archive/")
		soon(t, "the message appended", func() bool { return len(uids(t, m.srv, "Archive")) > len(before) })
		settle()
		after := uids(t, m.srv, "Archive")
		if len(after) != len(before)+1 {
			t.Fatalf("Archive holds %d messages after cp -r, want %d", len(after), len(before)+1)
		}
		newUID := after[len(after)-1]
		run(t, "cmp", filepath.Join(m.dir, "INBOX", "5", "message.eml"), filepath.Join(msgPath(m, "Archive", newUID), "message.eml"))
		if newUID != 5 {
			soon(t, "the pending directory goes away", gone(filepath.Join(m.dir, "Archive", "5")))
		}
		if got := mailboxNames(t, m.srv); !slices.Equal(got, mailboxes) {
			t.Errorf("cp -r changed the mailboxes: %v, want %v", got, mailboxes)
		}
		if c := m.proxy.Commands(); c["APPEND"] != 1 || c["CREATE"] != 0 {
			t.Errorf("cp -r of one message sent %v, want one APPEND and no CREATE", c)
		}

		// Where the target holds that UID already, cp fails for it and
		// nothing changes.
		if !slices.Contains(uids(t, m.srv, "INBOX"), newUID) {
			t.Fatalf("INBOX has no message %d to copy onto Archive's", newUID)
		}
		m.proxy.Reset()
		fails(t, "cp", "-r", msgPath(m, "INBOX", newUID), filepath.Join(m.dir, "Archive")+"/")
		settle()
		if got := uids(t, m.srv, "Archive"); len(got) != len(after) {
			t.Errorf("cp -r onto an existing UID: Archive holds %d messages, want %d", len(got), len(after))
		}
		if c := m.proxy.Commands(); c["APPEND"] != 0 || c["CREATE"] != 0 {
			t.Errorf("cp -r onto an existing UID sent %v", c)
		}

		// A whole folder.
		inbox := uids(t, m.srv, "INBOX")
		run(t, "mkdir", filepath.Join(m.dir, "Copy"))
		run(t, "cp", "-r", m.mailboxPath("INBOX"), filepath.Join(m.dir, "Copy")+"/")
		copyName := m.serverName("Copy/INBOX")
		soon(t, "the folder copied", func() bool { return len(uids(t, m.srv, copyName)) >= len(inbox) })
		settle()
		want, got := bodies(t, m.srv, "INBOX"), bodies(t, m.srv, copyName)
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("cp -r INBOX Copy/: %d messages copied, %d in INBOX, or not the same bytes", len(got), len(want))
		}
		wantBoxes := append(slices.Clone(mailboxes), "Copy", copyName)
		slices.Sort(wantBoxes)
		if got := mailboxNames(t, m.srv); !slices.Equal(got, wantBoxes) {
			t.Errorf("mailboxes after cp -r of a folder: %v, want %v", got, wantBoxes)
		}
		soon(t, "the pending directories go away", func() bool {
			ls := lines(run(t, "ls", filepath.Join(m.dir, "Copy", "INBOX")))
			for _, uid := range uids(t, m.srv, copyName) {
				ls = slices.DeleteFunc(ls, func(s string) bool { return s == strconv.Itoa(int(uid)) })
			}
			return len(ls) == 0
		})
	})
}

// TestPendingMessageDirectoryWithoutMessage: a pending message directory
// that never gets its message.eml goes away and appends nothing; a
// mailbox with an all-digit name is made by renaming.
func TestPendingMessageDirectoryWithoutMessage(t *testing.T) {
	srv := servers(t)["memory"](t)
	m := mountServerWith(t, srv, imapfsfs.Options{StageTimeout: 300 * time.Millisecond})
	dir := filepath.Join(m.mailboxPath("Work"), "77")
	run(t, "mkdir", dir)
	run(t, "sh", "-c", "echo x > "+dir+"/HEADER")
	if got := lines(run(t, "ls", m.mailboxPath("Work"))); !slices.Contains(got, "77") {
		t.Errorf("ls Work = %v lacks the pending 77", got)
	}
	soon(t, "the pending directory goes away", gone(dir))
	if c := m.proxy.Commands(); c["APPEND"] != 0 || c["CREATE"] != 0 {
		t.Errorf("a pending directory without message.eml sent %v", c)
	}
	// A mailbox with an all-digit name: made under another, renamed.
	run(t, "mkdir", filepath.Join(m.mailboxPath("Work"), "y2026"))
	run(t, "mv", filepath.Join(m.mailboxPath("Work"), "y2026"), filepath.Join(m.mailboxPath("Work"), "2026"))
	if names := mailboxNames(t, srv); !slices.Contains(names, "Work/2026") {
		t.Errorf("mailboxes after mkdir and mv: %v, want Work/2026", names)
	}
	if got := lines(run(t, "ls", m.mailboxPath("Work"))); !slices.Contains(got, "2026") {
		t.Errorf("ls Work = %v lacks the mailbox 2026", got)
	}
}

// TestRmdirMailboxSparesMailDeliveredMeanwhile: a message delivered after
// rmdir found the mailbox empty, and before it deleted it, survives, and
// rmdir fails with ENOTEMPTY. The hook delivers right before the mount's
// first RENAME or DELETE of the mailbox.
func TestRmdirMailboxSparesMailDeliveredMeanwhile(t *testing.T) {
	all := servers(t)
	for _, name := range []string{"memory", "dovecot-slash", "dovecot-dot"} {
		t.Run(name, func(t *testing.T) {
			srv := all[name](t)
			for _, box := range []string{"Lists", "Empty"} {
				if err := srv.Create(box); err != nil {
					t.Fatal(err)
				}
			}
			var once sync.Once
			delivered := make(chan error, 1)
			p := newHookProxy(t, srv.Addr, func(line string) {
				f := strings.Fields(line)
				if len(f) > 2 && (strings.EqualFold(f[1], "RENAME") || strings.EqualFold(f[1], "DELETE")) && strings.Contains(f[2], "Lists") {
					once.Do(func() {
						_, err := srv.Append("Lists", []byte("From: list@example.org\r\nSubject: delivered meanwhile\r\n\r\nhi\r\n"), nil, time.Now())
						delivered <- err
					})
				}
			})
			mt := mountVia(t, srv, p.addr, 30*time.Second, imapfsfs.Options{})
			// Listed first, so that a connection of the mount has it selected.
			run(t, "ls", filepath.Join(mt.dir, "Lists"))
			if out := fails(t, "rmdir", filepath.Join(mt.dir, "Lists")); !strings.Contains(out, "not empty") {
				t.Errorf("rmdir while mail is delivered: %q, want ENOTEMPTY", out)
			}
			select {
			case err := <-delivered:
				if err != nil {
					t.Fatalf("delivery: %v", err)
				}
			default:
				t.Fatal("the hook never delivered: no RENAME or DELETE of Lists was sent")
			}
			if got := subjects(t, srv, "Lists"); !slices.Equal(got, []string{"delivered meanwhile"}) {
				t.Errorf("Lists holds %v, want the delivered message", got)
			}
			soon(t, "the mount lists the delivered message", func() bool {
				return len(lines(run(t, "ls", filepath.Join(mt.dir, "Lists")))) == 1
			})
			// An empty mailbox is deleted, and no private name stays.
			run(t, "rmdir", filepath.Join(mt.dir, "Empty"))
			names := mailboxNames(t, srv)
			if slices.Contains(names, "Empty") || !slices.Contains(names, "Lists") ||
				slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, "imapfs-") }) {
				t.Errorf("mailboxes after the two rmdirs: %v", names)
			}
		})
	}
}

// TestAppendRefusedKeepsTheFile: an APPEND refused at the last close
// cannot reach close(2); the file stays under its name, bytes intact;
// reading it sends nothing, writing it again retries.
func TestAppendRefusedKeepsTheFile(t *testing.T) {
	srv := servers(t)["memory"](t)
	if err := srv.Create("Gone"); err != nil {
		t.Fatal(err)
	}
	m := mountServer(t, srv)
	path := filepath.Join(m.mailboxPath("Gone"), "x.eml")
	msg := "From: a@b\r\nSubject: refused\r\n\r\nbody\r\n"
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(msg); err != nil {
		t.Fatal(err)
	}
	c, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Delete("Gone").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	soon(t, "the APPEND tried", func() bool { return m.proxy.Commands()["APPEND"] == 1 })
	settle()
	if got, err := os.ReadFile(path); err != nil || string(got) != msg {
		t.Fatalf("the refused file: %q, %v; want it kept", got, err)
	}
	if status := run(t, "cat", filepath.Join(m.dir, ".imapfs", "status")); !strings.Contains(status, "append x.eml") {
		t.Errorf("the status file does not tell of the refused APPEND:\n%s", status)
	}
	settle()
	if n := m.proxy.Commands()["APPEND"]; n != 1 {
		t.Errorf("reading the refused file sent %d APPEND in all, want the first only", n)
	}
	if err := c.Create("Gone", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "x.eml")
	if err := os.WriteFile(src, []byte(msg), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "cp", src, path)
	soon(t, "the retried APPEND", func() bool { return len(uids(t, srv, "Gone")) == 1 })
	soon(t, "x.eml goes away", gone(path))
}

// TestCopyPreservingAttributes: cp -p and cp -a carry on where the file
// system keeps no extended attributes (ACLs), and still append once.
func TestCopyPreservingAttributes(t *testing.T) {
	srv := servers(t)["memory"](t)
	m := mountServerWith(t, srv, imapfsfs.Options{StageTimeout: 300 * time.Millisecond})
	src := filepath.Join(t.TempDir(), "x.eml")
	if err := os.WriteFile(src, []byte("From: a@b\nSubject: kept\n\nbody\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := len(uids(t, srv, "Archive"))
	run(t, "sh", "-c", "cd "+m.dir+" && cp -a INBOX/3 Archive/ && cp -p "+src+" Archive/")
	soon(t, "two messages appended", func() bool { return len(uids(t, srv, "Archive")) >= before+2 })
	settle()
	if n := m.proxy.Commands()["APPEND"]; n != 2 {
		t.Errorf("%d APPEND sent, want 2", n)
	}
}

// TestRmdirMailboxSparesChildCreatedMeanwhile: a child mailbox created
// after rmdir's check moves with the private rename (Dovecot; go-imap's
// memory server renames no children), is found there, and the mailbox is
// renamed back: ENOTEMPTY, nothing deleted.
func TestRmdirMailboxSparesChildCreatedMeanwhile(t *testing.T) {
	all := servers(t)
	for _, name := range []string{"dovecot-slash", "dovecot-dot"} {
		t.Run(name, func(t *testing.T) {
			srv := all[name](t)
			if err := srv.Create("Kids"); err != nil {
				t.Fatal(err)
			}
			child := "Kids" + string(srv.Delimiter) + "sub"
			var once sync.Once
			p := newHookProxy(t, srv.Addr, func(line string) {
				f := strings.Fields(line)
				if len(f) > 2 && (strings.EqualFold(f[1], "RENAME") || strings.EqualFold(f[1], "DELETE")) && strings.Contains(f[2], "Kids") {
					once.Do(func() {
						if err := srv.Create(child); err != nil {
							t.Errorf("create %s: %v", child, err)
						}
					})
				}
			})
			mt := mountVia(t, srv, p.addr, 30*time.Second, imapfsfs.Options{})
			if out := fails(t, "rmdir", filepath.Join(mt.dir, "Kids")); !strings.Contains(out, "not empty") {
				t.Errorf("rmdir while a child is created: %q, want ENOTEMPTY", out)
			}
			names := mailboxNames(t, srv)
			if !slices.Contains(names, "Kids") || !slices.Contains(names, child) ||
				slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, "imapfs-") }) {
				t.Errorf("mailboxes after the refused rmdir: %v", names)
			}
		})
	}
}

// TestRmdirFolderAfterCopy: the pending directory left by cp -r, once its
// message is appended, keeps neither listing nor rmdir of its folder.
func TestRmdirFolderAfterCopy(t *testing.T) {
	srv := servers(t)["memory"](t)
	m := mountServer(t, srv)
	run(t, "mkdir", filepath.Join(m.dir, "Tmp"))
	run(t, "sh", "-c", "cd "+m.dir+" && cp -r INBOX/5 Tmp/")
	soon(t, "the message appended", func() bool { return len(uids(t, srv, "Tmp")) == 1 })
	soon(t, "the pending directory unlisted", func() bool { return len(lines(run(t, "ls", filepath.Join(m.dir, "Tmp")))) == 1 })
	run(t, "sh", "-c", "rm -rf "+filepath.Join(m.dir, "Tmp")+"/* && rmdir "+filepath.Join(m.dir, "Tmp"))
	if slices.Contains(mailboxNames(t, srv), "Tmp") {
		t.Error("Tmp stays")
	}
}
