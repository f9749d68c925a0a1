package fs_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/imapfs/imapfs"
	imapfsfs "github.com/imapfs/imapfs/fs"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// fails runs a tool that must fail, and returns what it said.
func fails(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err == nil {
		t.Fatalf("%s %s succeeded, want failure; output: %s", name, strings.Join(args, " "), out)
	}
	return string(out)
}

// flagsOf returns a message's flags with an independent client, and
// whether the message exists.
func flagsOf(t *testing.T, srv *imaptest.Server, mailbox string, uid imap.UID) ([]imap.Flag, bool) {
	t.Helper()
	c := examine(t, srv, mailbox)
	defer c.Close()
	msgs, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{Flags: true, UID: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) == 0 {
		return nil, false
	}
	return msgs[0].Flags, true
}

func storeFlags(t *testing.T, srv *imaptest.Server, mailbox string, uid imap.UID, op imap.StoreFlagsOp, flags ...imap.Flag) {
	t.Helper()
	c, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Select(mailbox, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: op, Silent: true, Flags: flags}, nil).Close(); err != nil {
		t.Fatal(err)
	}
}

func mailboxNames(t *testing.T, srv *imaptest.Server) []string {
	t.Helper()
	c, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range list {
		names = append(names, l.Mailbox)
	}
	slices.Sort(names)
	return names
}

func msgPath(m *mount, path string, uid imap.UID) string {
	return filepath.Join(m.mailboxPath(m.serverName(path)), strconv.Itoa(int(uid)))
}

func TestDeleteMessages(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		inbox := uids(t, m.srv, "INBOX")
		run(t, "rm", "-r", msgPath(m, "INBOX", inbox[0]))
		run(t, "rmdir", msgPath(m, "INBOX", inbox[1]))
		run(t, "rm", "-rf", msgPath(m, "INBOX", inbox[2]))
		if got := uids(t, m.srv, "INBOX"); !slices.Equal(got, inbox[3:]) {
			t.Errorf("INBOX after deleting 3 messages: %v, want %v", got, inbox[3:])
		}
		if got := lines(run(t, "ls", m.mailboxPath("INBOX"))); len(got) != len(inbox)-3 {
			t.Errorf("ls INBOX after deleting 3 of %d: %v", len(inbox), got)
		}

		projects := m.serverName("Work/Projects")
		run(t, "find", m.mailboxPath(projects), "-mindepth", "1", "-delete")
		if got := uids(t, m.srv, projects); len(got) != 0 {
			t.Errorf("find -delete left %v", got)
		}
		archive := m.serverName("Archive/2025")
		run(t, "sh", "-c", "rm -rf "+m.mailboxPath(archive)+"/*")
		if got := uids(t, m.srv, archive); len(got) != 0 {
			t.Errorf("rm -rf FOLDER/* left %v", got)
		}
		// The mailboxes themselves stay.
		names := mailboxNames(t, m.srv)
		if !slices.Contains(names, projects) || !slices.Contains(names, archive) {
			t.Errorf("emptying folders removed mailboxes: %v", names)
		}
	})
}

// TestDeleteSparesMessagesOthersMarkedDeleted is the rule above all: a
// message another client flagged \Deleted (and did not expunge) survives
// a delete through the mount.
func TestDeleteSparesMessagesOthersMarkedDeleted(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		a, b := appendTwo(t, m.srv)
		storeFlags(t, m.srv, "INBOX", a, imap.StoreFlagsAdd, imap.FlagDeleted)
		run(t, "rm", "-r", msgPath(m, "INBOX", b))
		if _, ok := flagsOf(t, m.srv, "INBOX", b); ok {
			t.Error("B still exists after rm -r")
		}
		if flags, ok := flagsOf(t, m.srv, "INBOX", a); !ok || !slices.Contains(flags, imap.FlagDeleted) {
			t.Errorf("A (marked \\Deleted elsewhere) after rm -r of B: exists %v, flags %v", ok, flags)
		}
	})
}

func appendTwo(t *testing.T, srv *imaptest.Server) (imap.UID, imap.UID) {
	t.Helper()
	var uids [2]imap.UID
	for i := range uids {
		msg := "From: x@example.org\r\nSubject: safety " + strconv.Itoa(i) + "\r\n\r\nbody\r\n"
		uid, err := srv.Append("INBOX", []byte(msg), nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		uids[i] = uid
	}
	return uids[0], uids[1]
}

func TestDeleteWithoutUIDPlusRefusesWhenOthersAreDeleted(t *testing.T) {
	srv := imaptest.NewMemoryWith(t, imaptest.MemoryOptions{Without: []imap.Cap{imap.CapUIDPlus}})
	m := mountServer(t, srv)
	a, b := appendTwo(t, srv)
	storeFlags(t, srv, "INBOX", a, imap.StoreFlagsAdd, imap.FlagDeleted)
	if out := fails(t, "rm", "-r", msgPath(m, "INBOX", b)); !strings.Contains(out, "busy") {
		t.Errorf("rm -r without UIDPLUS while A is \\Deleted: %q, want EBUSY", out)
	}
	flagsA, okA := flagsOf(t, srv, "INBOX", a)
	flagsB, okB := flagsOf(t, srv, "INBOX", b)
	if !okA || !okB || slices.Contains(flagsB, imap.FlagDeleted) || !slices.Contains(flagsA, imap.FlagDeleted) {
		t.Errorf("after the refused delete: A exists %v %v, B exists %v %v; want both, only A \\Deleted", okA, flagsA, okB, flagsB)
	}
	if n := m.proxy.Commands()["EXPUNGE"] + m.proxy.Commands()["UID EXPUNGE"]; n != 0 {
		t.Errorf("%d EXPUNGE sent while another message was \\Deleted", n)
	}
	// Once nobody else has \Deleted messages, the plain EXPUNGE is safe.
	storeFlags(t, srv, "INBOX", a, imap.StoreFlagsDel, imap.FlagDeleted)
	run(t, "rm", "-r", msgPath(m, "INBOX", b))
	if _, ok := flagsOf(t, srv, "INBOX", b); ok {
		t.Error("B still exists")
	}
	if _, ok := flagsOf(t, srv, "INBOX", a); !ok {
		t.Error("A was expunged")
	}
	if n := m.proxy.Commands()["UID EXPUNGE"]; n != 0 {
		t.Errorf("UID EXPUNGE sent %d times to a server without UIDPLUS", n)
	}
}

// TestPartsCannotBeRemovedAlone: IMAP has no way to remove one part, so
// rm of a part file, rm MSGDIR/* and mv of a part out must leave the
// message exactly as it was.
func TestPartsCannotBeRemovedAlone(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		uid := uids(t, m.srv, "INBOX")[1] // multipart: 1.1 1.2 2
		dir := msgPath(m, "INBOX", uid)
		m.proxy.Reset()
		if out := fails(t, "rm", filepath.Join(dir, "2")); !strings.Contains(out, "not permitted") {
			t.Errorf("rm MSGDIR/2: %q, want EPERM", out)
		}
		fails(t, "sh", "-c", "rm "+dir+"/*")
		dst := filepath.Join(t.TempDir(), "invoice.pdf")
		fails(t, "mv", filepath.Join(dir, "2"), dst)
		if st, err := os.Stat(dst); err != nil || st.Size() == 0 {
			t.Errorf("mv out of the mount lost the copy: %v", err)
		}
		flags, ok := flagsOf(t, m.srv, "INBOX", uid)
		if !ok || len(flags) != 0 {
			t.Errorf("message after rm/mv of parts: exists %v, flags %v; want untouched", ok, flags)
		}
		for _, cmd := range []string{"UID STORE", "STORE", "UID EXPUNGE", "EXPUNGE"} {
			if n := m.proxy.Commands()[cmd]; n != 0 {
				t.Errorf("%s sent %d times", cmd, n)
			}
		}
		if got := lines(run(t, "ls", dir)); len(got) != 7 {
			t.Errorf("ls MSGDIR = %v, want all 7 entries back", got)
		}
	})
}

func TestStagedUnlinksAreForgotten(t *testing.T) {
	srv := servers(t)["memory"](t)
	m := mountServerWith(t, srv, imapfsfs.Options{StageTimeout: 300 * time.Millisecond})
	dir := msgPath(m, "INBOX", uids(t, srv, "INBOX")[0])
	// This process lists the directory, then unlinks: the start of rm -r.
	if _, err := os.ReadDir(dir); err != nil {
		t.Fatal(err)
	}
	header := filepath.Join(dir, "HEADER")
	if err := os.Remove(header); err != nil {
		t.Fatalf("unlink after listing: %v", err)
	}
	if _, err := os.Stat(header); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("staged file still visible: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	if _, err := os.Stat(header); err != nil {
		t.Errorf("staged unlink not forgotten after the timeout: %v", err)
	}
	if got := uids(t, srv, "INBOX"); len(got) != 7 {
		t.Errorf("INBOX has %d messages, want 7", len(got))
	}
}

func subjects(t *testing.T, srv *imaptest.Server, mailbox string) []string {
	t.Helper()
	c := examine(t, srv, mailbox)
	defer c.Close()
	msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1}}, &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, msg := range msgs {
		out = append(out, msg.Envelope.Subject)
	}
	return out
}

func TestMoveMessages(t *testing.T) {
	check := func(t *testing.T, m *mount) {
		inbox := uids(t, m.srv, "INBOX")
		work := m.serverName("Work")
		before := len(uids(t, m.srv, work))
		moved := subjects(t, m.srv, "INBOX")[:2]
		run(t, "mv", msgPath(m, "INBOX", inbox[0]), m.mailboxPath(work)+"/")
		run(t, "mv", msgPath(m, "INBOX", inbox[1]), filepath.Join(m.mailboxPath(work), "anyname"))
		if got := uids(t, m.srv, "INBOX"); !slices.Equal(got, inbox[2:]) {
			t.Errorf("INBOX after moving 2: %v, want %v", got, inbox[2:])
		}
		after := uids(t, m.srv, work)
		if len(after) != before+2 {
			t.Fatalf("Work has %d messages after the move, want %d", len(after), before+2)
		}
		got := subjects(t, m.srv, work)
		for _, s := range moved {
			if !slices.Contains(got, s) {
				t.Errorf("moved message %q not in Work: %v", s, got)
			}
		}
		// The new UIDs are listed, the names given to mv are not.
		ls := lines(run(t, "ls", m.mailboxPath(work)))
		for _, uid := range after[before:] {
			if !slices.Contains(ls, strconv.Itoa(int(uid))) {
				t.Errorf("ls Work = %v lacks the new UID %d", ls, uid)
			}
		}
		if slices.Contains(ls, "anyname") {
			t.Errorf("ls Work shows the ghost name: %v", ls)
		}
		if _, err := os.Stat(filepath.Join(m.mailboxPath(work), "anyname")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("stat of the name given to mv: %v, want ENOENT", err)
		}
		// Inside one folder there is nothing IMAP could do.
		fails(t, "mv", msgPath(m, "INBOX", inbox[2]), filepath.Join(m.mailboxPath("INBOX"), "renamed"))
	}
	forEachServer(t, check)
	t.Run("memory-without-MOVE", func(t *testing.T) {
		srv := imaptest.NewMemoryWith(t, imaptest.MemoryOptions{Without: []imap.Cap{imap.CapMove}})
		if err := srv.Seed(imapfs.SampleMail, "testdata/mail"); err != nil {
			t.Fatal(err)
		}
		m := mountServer(t, srv)
		check(t, m)
		if c := m.proxy.Commands(); c["UID MOVE"] != 0 || c["UID COPY"] != 2 {
			t.Errorf("without MOVE: commands %v, want 2 UID COPY and no UID MOVE", c)
		}
	})
}

func TestMailboxOperations(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		d := string(m.srv.Delimiter)
		run(t, "mkdir", filepath.Join(m.dir, "New"))
		run(t, "mkdir", filepath.Join(m.dir, "New", "Sub"))
		names := mailboxNames(t, m.srv)
		if !slices.Contains(names, "New") || !slices.Contains(names, "New"+d+"Sub") {
			t.Fatalf("after mkdir: %v", names)
		}
		if out := fails(t, "rmdir", filepath.Join(m.dir, "New")); !strings.Contains(out, "not empty") {
			t.Errorf("rmdir of a mailbox with a child: %q, want ENOTEMPTY", out)
		}
		if out := fails(t, "rmdir", filepath.Join(m.dir, "INBOX")); !strings.Contains(out, "not empty") {
			t.Errorf("rmdir INBOX: %q, want ENOTEMPTY", out)
		}
		run(t, "rmdir", filepath.Join(m.dir, "New", "Sub"))
		run(t, "mv", filepath.Join(m.dir, "New"), filepath.Join(m.dir, "Work", "Renamed"))
		names = mailboxNames(t, m.srv)
		if slices.Contains(names, "New") || !slices.Contains(names, "Work"+d+"Renamed") || slices.Contains(names, "New"+d+"Sub") {
			t.Errorf("after rmdir and mv: %v", names)
		}
		if got := lines(run(t, "ls", filepath.Join(m.dir, "Work"))); !slices.Contains(got, "Renamed") {
			t.Errorf("ls Work = %v, want Renamed", got)
		}
		// A renamed mailbox keeps its messages, readable under the new name.
		run(t, "mv", filepath.Join(m.dir, "Work", "Projects"), filepath.Join(m.dir, "Projects2"))
		proj := uids(t, m.srv, "Projects2")
		if len(proj) != 2 {
			t.Fatalf("Projects2 has %v", proj)
		}
		if !strings.Contains(run(t, "cat", msgPath(m, "Projects2", proj[0])+"/HEADER"), "Subject:") {
			t.Error("HEADER of a message in the renamed mailbox has no Subject")
		}
		run(t, "rmdir", filepath.Join(m.dir, "Work", "Renamed"))
		if slices.Contains(mailboxNames(t, m.srv), "Work"+d+"Renamed") {
			t.Error("rmdir of an empty mailbox left it")
		}
	})
}

func TestAppendByCopyingAFile(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		work := m.serverName("Work")
		before := uids(t, m.srv, work)
		src := filepath.Join(t.TempDir(), "note.eml")
		lf := "From: me@example.org\nTo: you@example.org\nSubject: appended\n\nline one\nline two\n"
		if err := os.WriteFile(src, []byte(lf), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, "cp", src, m.mailboxPath(work)+"/")
		// The APPEND goes at RELEASE, which close(2) does not wait for.
		soon(t, "note.eml appended", func() bool { return len(uids(t, m.srv, work)) > len(before) })
		soon(t, "note.eml goes away", gone(filepath.Join(m.mailboxPath(work), "note.eml")))
		after := uids(t, m.srv, work)
		if len(after) != len(before)+1 {
			t.Fatalf("Work has %d messages after cp, want %d", len(after), len(before)+1)
		}
		c, err := m.srv.Dial()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Select(work, &imap.SelectOptions{ReadOnly: true}).Wait()
		got := fetchSection(t, c, after[len(after)-1], &imap.FetchItemBodySection{Peek: true})
		if want := strings.ReplaceAll(lf, "\n", "\r\n"); string(got) != want {
			t.Errorf("appended message = %q, want %q (CRLF)", got, want)
		}
		ls := lines(run(t, "ls", m.mailboxPath(work)))
		if slices.Contains(ls, "note.eml") || !slices.Contains(ls, strconv.Itoa(int(after[len(after)-1]))) {
			t.Errorf("ls Work after cp = %v: want the new UID and no note.eml", ls)
		}
		// A shell redirection works the same way.
		run(t, "sh", "-c", "printf 'Subject: from a shell\\n\\nhi\\n' > "+m.mailboxPath(work)+"/new.eml")
		soon(t, "new.eml appended", func() bool { return len(uids(t, m.srv, work)) > len(after) })
		settle()
		if n := len(uids(t, m.srv, work)); n != len(after)+1 {
			t.Errorf("after cat >: %d messages, want %d", n, len(after)+1)
		}
		// Not a message: refused at close, nothing appended, no name left.
		settle()
		junk := filepath.Join(t.TempDir(), "photo.jpg")
		os.WriteFile(junk, []byte("\xff\xd8\xff\xe0 not a mail message\n"), 0o644)
		if out := fails(t, "cp", junk, m.mailboxPath(work)+"/"); !strings.Contains(out, "Invalid argument") {
			t.Errorf("cp of a non-message: %q, want EINVAL", out)
		}
		if n := len(uids(t, m.srv, work)); n != len(after)+1 {
			t.Errorf("a non-message was appended: %d messages", n)
		}
		soon(t, "the refused file's name goes away", gone(filepath.Join(m.mailboxPath(work), "photo.jpg")))
	})
}

func TestFlagsAsExtendedAttributes(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		uid := uids(t, m.srv, "INBOX")[0]
		dir := msgPath(m, "INBOX", uid)
		if got := run(t, "getfattr", "--only-values", "-n", "user.imap.flags", dir); got != "" {
			t.Errorf("flags of an unread message = %q, want empty", got)
		}
		run(t, "setfattr", "-n", "user.imap.flags", "-v", `\Seen \Flagged $Label1`, dir)
		flags, _ := flagsOf(t, m.srv, "INBOX", uid)
		for _, want := range []imap.Flag{imap.FlagSeen, imap.FlagFlagged, "$Label1"} {
			// Servers may fold keyword case (go-imap's memory server does).
			if !slices.ContainsFunc(flags, func(f imap.Flag) bool { return strings.EqualFold(string(f), string(want)) }) {
				t.Errorf("server flags %v lack %s", flags, want)
			}
		}
		got := run(t, "getfattr", "--only-values", "-n", "user.imap.flags", dir)
		if !strings.Contains(got, `\Seen`) || !strings.Contains(strings.ToLower(got), "$label1") {
			t.Errorf("getfattr after setfattr = %q", got)
		}
		dump := run(t, "getfattr", "-d", dir)
		for _, name := range []string{"user.imap.flags", "user.imap.uid=\"" + strconv.Itoa(int(uid)) + "\"", "user.imap.internaldate"} {
			if !strings.Contains(dump, name) {
				t.Errorf("getfattr -d lacks %s:\n%s", name, dump)
			}
		}
		fails(t, "setfattr", "-n", "user.imap.flags", "-v", `\Recent`, dir)
		fails(t, "setfattr", "-n", "user.imap.uid", "-v", "7", dir)
		run(t, "setfattr", "-n", "user.imap.flags", "-v", "", dir)
		if flags, _ := flagsOf(t, m.srv, "INBOX", uid); slices.ContainsFunc(flags, func(f imap.Flag) bool { return f != `\Recent` }) {
			t.Errorf("flags after clearing: %v", flags)
		}
	})
}

// TestReadOnlyRefusesEveryChange checks the kernel's answer and, at the
// proxy, that no command that changes anything reached the server.
func TestReadOnlyRefusesEveryChange(t *testing.T) {
	srv := servers(t)["memory"](t)
	m := mountServerWith(t, srv, imapfsfs.Options{ReadOnly: true})
	uid := uids(t, srv, "INBOX")[0]
	dir := msgPath(m, "INBOX", uid)
	src := filepath.Join(t.TempDir(), "m.eml")
	os.WriteFile(src, []byte("Subject: x\n\ny\n"), 0o644)
	for _, args := range [][]string{
		{"rm", "-rf", dir},
		{"rmdir", dir},
		{"mv", dir, filepath.Join(m.dir, "Work") + "/"},
		{"mkdir", filepath.Join(m.dir, "New")},
		{"rmdir", filepath.Join(m.dir, "Archive", "2025")},
		{"mv", filepath.Join(m.dir, "Work"), filepath.Join(m.dir, "Work2")},
		{"cp", src, filepath.Join(m.dir, "INBOX") + "/"},
		{"setfattr", "-n", "user.imap.flags", "-v", `\Seen`, dir},
	} {
		if out := fails(t, args[0], args[1:]...); !strings.Contains(out, "Read-only file system") {
			t.Errorf("%v: %q, want EROFS", args, out)
		}
	}
	for _, cmd := range []string{"STORE", "UID STORE", "EXPUNGE", "UID EXPUNGE", "MOVE", "UID MOVE", "COPY", "UID COPY", "APPEND", "CREATE", "DELETE", "RENAME", "SELECT"} {
		if n := m.proxy.Commands()[cmd]; n != 0 {
			t.Errorf("read-only mount sent %s %d times (all: %v)", cmd, n, m.proxy.Commands())
		}
	}
	if got := uids(t, srv, "INBOX"); len(got) != 7 {
		t.Errorf("INBOX has %d messages", len(got))
	}
}
