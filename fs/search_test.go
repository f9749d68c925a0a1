package fs_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	imapfsfs "github.com/imapfs/imapfs/fs"
	"github.com/imapfs/imapfs/imapbackend"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// searchDir is FOLDER/.search/QUERY.
func searchDir(folder, query string) string { return filepath.Join(folder, ".search", query) }

// serverSearch runs the UID SEARCH the mount runs for query, on a
// separate client.
func serverSearch(t *testing.T, srv *imaptest.Server, mailbox, query string) []imap.UID {
	t.Helper()
	criteria, err := imapbackend.ParseQuery(query)
	if err != nil {
		t.Fatalf("ParseQuery(%q): %v", query, err)
	}
	c, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("select %s: %v", mailbox, err)
	}
	data, err := c.UIDSearch(criteria, nil).Wait()
	if err != nil {
		t.Fatalf("uid search %q in %s: %v", query, mailbox, err)
	}
	uids := data.AllUIDs()
	slices.Sort(uids)
	return uids
}

// uidNames are UIDs as directory entries, sorted as lines sorts.
func uidNames(uids []imap.UID) []string {
	names := []string{}
	for _, uid := range uids {
		names = append(names, strconv.FormatUint(uint64(uid), 10))
	}
	sort.Strings(names)
	return names
}

// lsSearch lists a query directory with ls.
func lsSearch(t *testing.T, dir string) []string {
	t.Helper()
	got := lines(run(t, "ls", dir))
	if got == nil {
		got = []string{}
	}
	return got
}

// checkSearchCommands checks what the mount sent since the proxy was
// reset: exactly searches UID SEARCH commands, never a FETCH or anything
// else that is not a SELECT or a LIST (or the LOGIN and CAPABILITY of a
// new pool connection).
func checkSearchCommands(t *testing.T, m *mount, what string, searches int) map[string]int {
	t.Helper()
	cmds := m.proxy.Commands()
	if cmds["UID SEARCH"] != searches {
		t.Errorf("%s sent %d UID SEARCH, want %d (all: %v)", what, cmds["UID SEARCH"], searches, cmds)
	}
	for name, n := range cmds {
		switch name {
		case "UID SEARCH", "SELECT", "EXAMINE", "LIST", "LOGIN", "CAPABILITY":
		default:
			t.Errorf("%s sent %d %s (all: %v); a search sends only SELECT and UID SEARCH", what, n, name, cmds)
		}
	}
	return cmds
}

// searchMail adds what the examples look for to INBOX: mail from Alice
// (unread this month, read, unread but old) and a message with a 1 MB
// attachment.
type searchMail struct {
	aliceNew, aliceSeen, aliceOld, big imap.UID
}

func simpleMessage(from, subject, date, body string) []byte {
	return []byte(fmt.Sprintf("From: %s\r\nTo: team@example.com\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", from, subject, date, body))
}

func addSearchMail(t *testing.T, srv *imaptest.Server) searchMail {
	t.Helper()
	add := func(msg []byte, flags []imap.Flag, date time.Time) imap.UID {
		uid, err := srv.Append("INBOX", msg, flags, date)
		if err != nil {
			t.Fatal(err)
		}
		return uid
	}
	alice := "Alice Martin <alice@example.com>"
	var sm searchMail
	sm.aliceNew = add(simpleMessage(alice, "Minutes of Monday", "Mon, 16 Nov 2026 17:00:00 +0000", "The minutes are attached below."),
		nil, time.Date(2026, 11, 16, 17, 0, 0, 0, time.UTC))
	sm.aliceSeen = add(simpleMessage(alice, "Re: Lunch", "Tue, 17 Nov 2026 12:00:00 +0000", "Thursday works."),
		[]imap.Flag{imap.FlagSeen}, time.Date(2026, 11, 17, 12, 0, 0, 0, time.UTC))
	sm.aliceOld = add(simpleMessage(alice, "October plans", "Tue, 20 Oct 2026 09:00:00 +0000", "Old news."),
		nil, time.Date(2026, 10, 20, 9, 0, 0, 0, time.UTC))
	payload := make([]byte, 1_000_000)
	rand.New(rand.NewSource(8)).Read(payload)
	sm.big = add(largeAttachmentMessage(payload), nil, time.Date(2026, 11, 18, 9, 0, 0, 0, time.UTC))
	return sm
}

func TestSearchExamples(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		sm := addSearchMail(t, m.srv)
		inbox := uids(t, m.srv, "INBOX")
		inboxDir := m.mailboxPath("INBOX")
		projects := m.serverName("Work/Projects")
		cases := []struct {
			mailbox, query string
			want           []imap.UID // nil: whatever the server says, but something
		}{
			// Unread mail from one sender this month.
			{"INBOX", "UNSEEN FROM alice SINCE 1-Nov-2026", []imap.UID{sm.aliceNew}},
			{"INBOX", "FROM alice NOT SEEN", []imap.UID{sm.aliceNew, sm.aliceOld}},
			// The large attachments (of the last month).
			{"INBOX", "LARGER 1000000", []imap.UID{sm.big}},
			{"INBOX", "LARGER 1000000 SINCE 1-Nov-2026", []imap.UID{sm.big}},
			// Big5 mail found by UTF-8 words, in the body and the subject.
			{"INBOX", "TEXT 會議", []imap.UID{inbox[4]}},
			{"INBOX", "CHARSET UTF-8 SUBJECT 會議記錄", []imap.UID{inbox[4]}},
			// Quoted phrases, bare words, header fields.
			{"INBOX", `TEXT "ramen place"`, []imap.UID{inbox[0]}},
			{"INBOX", `SUBJECT "Lunch on Thursday?"`, []imap.UID{inbox[0]}},
			{"INBOX", "zanzibarquokka", []imap.UID{inbox[5]}},
			{"INBOX", "HEADER X-Mailer Thunderbird", []imap.UID{inbox[1]}},
			// OR with nested parentheses.
			{"INBOX", `OR (FROM bob (SINCE 18-Nov-2026 NOT LARGER 5000)) (OR SUBJECT lunch SUBJECT "traffic report")`, nil},
			{"INBOX", "NOT (OR SEEN (OR FROM alice LARGER 2000))", nil},
			{"INBOX", "FLAGGED", []imap.UID{}},
			{projects, "FROM bob", []imap.UID{uids(t, m.srv, projects)[0]}},
		}
		for _, c := range cases {
			dir := searchDir(m.mailboxPath(c.mailbox), c.query)
			m.proxy.Reset()
			got := lsSearch(t, dir)
			cmds := checkSearchCommands(t, m, fmt.Sprintf("ls %q", c.query), 1)
			want := uidNames(serverSearch(t, m.srv, c.mailbox, c.query))
			if !slices.Equal(got, want) {
				t.Errorf("ls %s/.search/%q = %v, separate client's UID SEARCH = %v", c.mailbox, c.query, got, want)
			}
			if c.want != nil && !slices.Equal(want, uidNames(c.want)) {
				t.Errorf("%s: UID SEARCH %q = %v, want %v", c.mailbox, c.query, want, uidNames(c.want))
			}
			if c.want == nil && len(want) == 0 {
				t.Errorf("%s: UID SEARCH %q found nothing; the example should find something", c.mailbox, c.query)
			}
			t.Logf("%s %q: %v, %v", c.mailbox, c.query, got, cmds)
			for _, name := range got {
				if target := run(t, "readlink", filepath.Join(dir, name)); target != "../../"+name+"\n" {
					t.Errorf("readlink %s/%s = %q, want ../../%s", c.query, name, target, name)
				}
				if st, err := os.Stat(filepath.Join(dir, name)); err != nil || !st.IsDir() {
					t.Errorf("the link %s/%s does not lead to a message directory: %v", c.query, name, err)
				}
			}
		}
		// .search is hidden, lists nothing, and is read-only.
		for _, name := range lines(run(t, "ls", "-a", inboxDir)) {
			if name == ".search" {
				t.Errorf("ls -a INBOX lists .search")
			}
		}
		if got := lines(run(t, "ls", "-A", filepath.Join(inboxDir, ".search"))); len(got) != 0 {
			t.Errorf("ls -A INBOX/.search = %v, want nothing", got)
		}
	})
}

// rootEntry is the entry MOUNT/.search/QUERY/ shows for a message, and
// the link's target.
func (m *mount) rootEntry(mailbox string, uid imap.UID) (name, target string) {
	var parts []string
	for _, p := range imapbackend.SplitMailbox(mailbox, m.srv.Delimiter) {
		parts = append(parts, imapbackend.EscapeName(p))
	}
	path := strings.Join(parts, "/")
	escaped := strings.NewReplacer("%", "%25", "/", "%2F").Replace(path)
	return fmt.Sprintf("%s%%2F%d", escaped, uid), fmt.Sprintf("../../%s/%d", path, uid)
}

// selectableMailboxes lists the server's mailboxes with a separate client.
func selectableMailboxes(t *testing.T, m *mount) []string {
	t.Helper()
	c, err := m.srv.Dial()
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
		if !slices.Contains(l.Attrs, imap.MailboxAttrNoSelect) {
			names = append(names, l.Mailbox)
		}
	}
	return names
}

// rootWant is what MOUNT/.search/QUERY should list: the separate client's
// UID SEARCH in every selectable mailbox.
func rootWant(t *testing.T, m *mount, query string) map[string]string {
	want := map[string]string{}
	for _, mailbox := range selectableMailboxes(t, m) {
		for _, uid := range serverSearch(t, m.srv, mailbox, query) {
			name, target := m.rootEntry(mailbox, uid)
			want[name] = target
		}
	}
	return want
}

func sortedKeys(m map[string]string) []string {
	keys := []string{}
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestSearchAllFolders(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		folders := len(selectableMailboxes(t, m))
		for _, c := range []struct {
			query string
			want  []string // mailbox paths ('/'-separated) that must be found
		}{
			{`"for the offsite"`, []string{"INBOX", "Work"}}, // a phrase across all folders
			{"TEXT budget", []string{"INBOX", "Work"}},
			{"FROM bob", []string{"INBOX", "Work/Projects"}},
			{"BEFORE 1-Jan-2026", []string{"Archive/2025"}},
		} {
			dir := searchDir(m.dir, c.query)
			m.proxy.Reset()
			got := lsSearch(t, dir)
			cmds := checkSearchCommands(t, m, fmt.Sprintf("ls MOUNT/.search/%q", c.query), folders)
			want := rootWant(t, m, c.query)
			if !slices.Equal(got, sortedKeys(want)) {
				t.Errorf("ls MOUNT/.search/%q = %v, separate client's UID SEARCH in every folder = %v", c.query, got, sortedKeys(want))
			}
			t.Logf("MOUNT/.search/%q: %v, %d folders, %v", c.query, got, folders, cmds)
			for _, path := range c.want {
				prefix := strings.NewReplacer("%", "%25", "/", "%2F").Replace(path) + "%2F"
				if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, prefix) }) {
					t.Errorf("MOUNT/.search/%q: nothing from %s in %v", c.query, path, got)
				}
			}
			for name, target := range want {
				if got := run(t, "readlink", filepath.Join(dir, name)); got != target+"\n" {
					t.Errorf("readlink MOUNT/.search/%q/%s = %q, want %q", c.query, name, got, target)
				}
				header, err := os.ReadFile(filepath.Join(dir, name, "HEADER"))
				direct, err2 := os.ReadFile(filepath.Join(dir, "..", "..", strings.TrimPrefix(target, "../../"), "HEADER"))
				if err != nil || err2 != nil || !bytes.Equal(header, direct) || len(header) == 0 {
					t.Errorf("HEADER through the link %s: %d bytes, %v; directly: %d bytes, %v", name, len(header), err, len(direct), err2)
				}
			}
		}
	})
}

func TestSearchFollowLinks(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		inbox := m.mailboxPath("INBOX")
		// cat FOLDER/.search/QUERY/*/HEADER
		dir := searchDir(inbox, "SINCE 17-Nov-2026")
		matches, err := filepath.Glob(filepath.Join(dir, "*"))
		if err != nil || len(matches) < 2 {
			t.Fatalf("glob %s: %v, %v; want several messages", dir, matches, err)
		}
		var want bytes.Buffer
		for _, p := range matches {
			b, err := os.ReadFile(filepath.Join(inbox, filepath.Base(p), "HEADER"))
			if err != nil {
				t.Fatal(err)
			}
			want.Write(b)
		}
		cmd := exec.Command("sh", "-c", `cat "$1"/*/HEADER`, "sh", dir)
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		got, err := cmd.Output()
		if err != nil {
			t.Fatalf("cat %s/*/HEADER: %v", dir, err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("cat .search/QUERY/*/HEADER gave %d bytes, the messages' HEADER files %d", len(got), want.Len())
		}

		// cp FOLDER/.search/QUERY/*/2 DEST/: the invoice's PDF.
		dest := t.TempDir()
		q := searchDir(inbox, "SUBJECT Facture")
		if got := lsSearch(t, q); len(got) != 1 {
			t.Fatalf("ls %s = %v, want one message", q, got)
		}
		run(t, "sh", "-c", `cp "$1"/*/2 "$2"/`, "sh", q, dest)
		copied, err := os.ReadFile(filepath.Join(dest, "2"))
		if err != nil {
			t.Fatal(err)
		}
		direct, err := os.ReadFile(filepath.Join(inbox, lsSearch(t, q)[0], "2"))
		if err != nil || !bytes.Equal(copied, direct) || len(direct) == 0 {
			t.Errorf("cp through the link: %d bytes; directly %d bytes, %v", len(copied), len(direct), err)
		}

		// cp FOLDER/.search/QUERY/*/attachments/* DEST/
		att := filepath.Join(dest, "attachments")
		if err := os.Mkdir(att, 0o755); err != nil {
			t.Fatal(err)
		}
		run(t, "sh", "-c", `cp "$1"/*/attachments/* "$2"/`, "sh", q, att)
		names := lines(run(t, "ls", filepath.Join(inbox, lsSearch(t, q)[0], "attachments")))
		if got := lines(run(t, "ls", att)); len(names) == 0 || !slices.Equal(got, names) {
			t.Errorf("cp .search/QUERY/*/attachments/* copied %v, the message's attachments are %v", got, names)
		}
		for _, n := range names {
			a, err1 := os.ReadFile(filepath.Join(att, n))
			b, err2 := os.ReadFile(filepath.Join(inbox, lsSearch(t, q)[0], "attachments", n))
			if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
				t.Errorf("attachment %s copied through the link differs: %v %v", n, err1, err2)
			}
		}

		// Through the root's links too, with cat and cp -r.
		root := searchDir(m.dir, "FROM bob")
		projects := m.serverName("Work/Projects")
		name, _ := m.rootEntry(projects, uids(t, m.srv, projects)[0])
		got1 := run(t, "cat", filepath.Join(root, name, "TEXT"))
		got2 := run(t, "cat", filepath.Join(m.mailboxPath(projects), strconv.Itoa(int(uids(t, m.srv, projects)[0])), "TEXT"))
		if got1 != got2 || got1 == "" {
			t.Errorf("cat MOUNT/.search/FROM bob/%s/TEXT differs from the message's TEXT", name)
		}
		run(t, "cp", "-rL", filepath.Join(root, name), filepath.Join(dest, "copy"))
		if b, err := os.ReadFile(filepath.Join(dest, "copy", "TEXT")); err != nil || string(b) != got2 {
			t.Errorf("cp -rL of a root search entry: TEXT %d bytes, %v", len(b), err)
		}
	})
}

// syncBuffer is a log destination tests can read while the mount writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestSearchRefusesMalformedAndInjectedQueries(t *testing.T) {
	all := servers(t)
	for _, name := range []string{"memory", "dovecot-slash", "dovecot-dot"} {
		t.Run(name, func(t *testing.T) {
			var logs syncBuffer
			m := mountServerWith(t, all[name](t), imapfsfs.Options{Logger: log.New(&logs, "", 0)})
			inbox := m.mailboxPath("INBOX")
			before := uids(t, m.srv, "INBOX")
			total := map[string]int{}
			add := func() {
				for k, v := range m.proxy.Commands() {
					total[k] += v
				}
			}
			for _, c := range []struct{ query, log string }{
				{"TEXT x\r\nA1 DELETE INBOX", "control character U+000D"},
				{"TEXT x\nA1 DELETE INBOX", "control character U+000A"},
				{"TEXT \"x\r\nA1 DELETE INBOX\"", "control character U+000D"},
				{"TEXT x\tA1", "control character U+0009"},
				{"SINCE yesterday", "SINCE needs a date like 1-Nov-2026"},
				{`TEXT "unterminated`, "unterminated quoted string"},
				{"FROM", "FROM needs"},
				{"OR FROM bob", "OR needs a second search key"},
				{"TEXT {5}", "IMAP literals"},
				{"(FROM bob", `unclosed "("`},
				{"FROM bob) DELETE INBOX (", `unmatched ")"`},
				{"LARGER lots", "LARGER needs a size"},
			} {
				m.proxy.Reset()
				_, err := os.Stat(searchDir(inbox, c.query))
				add()
				if !errors.Is(err, syscall.EINVAL) {
					t.Errorf("stat .search/%q: %v, want EINVAL", c.query, err)
				}
				if n := m.proxy.Commands()["UID SEARCH"]; n != 0 {
					t.Errorf("malformed query %q sent %d UID SEARCH", c.query, n)
				}
				if !strings.Contains(logs.String(), c.log) {
					t.Errorf("no log line saying %q for %q; log:\n%s", c.log, c.query, logs.String())
				}
			}
			// Hostile but well-formed: the words are searched for, in one
			// UID SEARCH, and nothing else is sent.
			for _, q := range []string{
				`TEXT "x\" DELETE INBOX"`,
				`FROM "A1 DELETE INBOX"`,
				`SUBJECT ")(*{3}"`,
				`HEADER X-Evil "\\"`,
				`OR (TEXT "a)") (TEXT "{0}")`,
				`A1 DELETE INBOX`, // not a search key: TEXT "A1 DELETE INBOX"
			} {
				m.proxy.Reset()
				got := lsSearch(t, searchDir(inbox, q))
				add()
				checkSearchCommands(t, m, fmt.Sprintf("ls .search/%q", q), 1)
				if want := uidNames(serverSearch(t, m.srv, "INBOX", q)); !slices.Equal(got, want) {
					t.Errorf("ls .search/%q = %v, separate client: %v", q, got, want)
				}
			}
			t.Logf("all commands sent for the hostile queries: %v", total)
			if total["DELETE"] != 0 || total["EXPUNGE"] != 0 || total["UID EXPUNGE"] != 0 || total["STORE"] != 0 || total["UID STORE"] != 0 {
				t.Errorf("queries sent changes: %v", total)
			}
			if after := uids(t, m.srv, "INBOX"); !slices.Equal(after, before) {
				t.Errorf("INBOX after the injection attempts: %v, before %v", after, before)
			}
			if got := mailboxNames(t, m.srv); !slices.Contains(got, "INBOX") {
				t.Errorf("mailboxes after the injection attempts: %v", got)
			}
		})
	}
}

func TestSearchFreshAfterNewMail(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		inbox := m.mailboxPath("INBOX")
		q := searchDir(inbox, "FROM dana")
		root := searchDir(m.dir, "FROM dana")
		if got := lsSearch(t, q); len(got) != 0 {
			t.Fatalf("ls %s = %v before any mail from dana", q, got)
		}
		lsSearch(t, root)
		uid, err := m.srv.Append("INBOX", simpleMessage("Dana Scully <dana@example.com>", "New mail", "Mon, 16 Nov 2026 10:00:00 +0000", "hello"), nil, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // the default list TTL is 1 s
		if got, want := lsSearch(t, q), uidNames([]imap.UID{uid}); !slices.Equal(got, want) {
			t.Errorf("ls %s after new mail and the TTL = %v, want %v", q, got, want)
		}
		if got := lsSearch(t, q); !slices.Equal(got, uidNames(serverSearch(t, m.srv, "INBOX", "FROM dana"))) {
			t.Errorf("ls %s = %v, differs from the server", q, got)
		}
		name, _ := m.rootEntry("INBOX", uid)
		if got := lsSearch(t, root); !slices.Equal(got, []string{name}) {
			t.Errorf("ls MOUNT/.search/FROM dana after new mail and the TTL = %v, want [%s]", got, name)
		}
	})
}

func TestSearchFreshAfterChangesThroughTheMount(t *testing.T) {
	all := servers(t)
	for _, name := range []string{"memory", "dovecot-slash", "dovecot-dot"} {
		t.Run(name, func(t *testing.T) {
			// A TTL far longer than the test: only the changes made through
			// the mount can make the results change.
			m := mountServerWith(t, all[name](t), imapfsfs.Options{ListTTL: time.Minute})
			inbox := m.mailboxPath("INBOX")
			projects := m.serverName("Work/Projects")
			q := searchDir(inbox, "FROM bob")
			root := searchDir(m.dir, "FROM bob")
			bob := uids(t, m.srv, "INBOX")[2]
			if got := lsSearch(t, q); !slices.Equal(got, uidNames([]imap.UID{bob})) {
				t.Fatalf("ls %s = %v, want [%d]", q, got, bob)
			}
			if got := lsSearch(t, root); len(got) != 2 {
				t.Fatalf("ls %s = %v, want 2 messages", root, got)
			}

			run(t, "rm", "-r", filepath.Join(inbox, strconv.Itoa(int(bob))))
			if got := lsSearch(t, q); len(got) != 0 {
				t.Errorf("ls %s right after rm -r of the message = %v, want nothing", q, got)
			}

			src := filepath.Join(t.TempDir(), "bob.eml")
			if err := os.WriteFile(src, simpleMessage("Bob Lindqvist <bob@example.com>", "Back again", "Mon, 16 Nov 2026 10:00:00 +0000", "hi"), 0o644); err != nil {
				t.Fatal(err)
			}
			run(t, "cp", src, inbox+"/")
			// The APPEND goes out at the file's release, which close(2)
			// does not wait for.
			eventually(t, 5*time.Second, "the copied message on the server", func() bool {
				return len(serverSearch(t, m.srv, "INBOX", "FROM bob")) == 1
			})
			want := uidNames(serverSearch(t, m.srv, "INBOX", "FROM bob"))
			if got := lsSearch(t, q); len(want) != 1 || !slices.Equal(got, want) {
				t.Errorf("ls %s right after cp of a new message = %v, server has %v", q, got, want)
			}

			run(t, "mv", filepath.Join(m.mailboxPath(projects), strconv.Itoa(int(uids(t, m.srv, projects)[0]))), m.mailboxPath("Archive")+"/")
			if got, want := lsSearch(t, root), sortedKeys(rootWant(t, m, "FROM bob")); !slices.Equal(got, want) {
				t.Errorf("ls %s right after mv to Archive = %v, server has %v", root, got, want)
			}
		})
	}
}

func TestSearchIsReadOnly(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		inbox := m.mailboxPath("INBOX")
		before := uids(t, m.srv, "INBOX")
		q := searchDir(inbox, "FROM bob")
		got := lsSearch(t, q)
		if len(got) != 1 {
			t.Fatalf("ls %s = %v", q, got)
		}
		entry := filepath.Join(q, got[0])
		for _, c := range []struct {
			what string
			err  error
		}{
			{"mkdir", syscall.Mkdir(filepath.Join(q, "new"), 0o755)},
			{"unlink", syscall.Unlink(entry)},
			{"rmdir entry", syscall.Rmdir(entry)},
			{"rmdir query", syscall.Rmdir(q)},
			{"rename", syscall.Rename(entry, filepath.Join(m.mailboxPath("Archive"), got[0]))},
			{"symlink", syscall.Symlink("../../1", filepath.Join(q, "1"))},
			{"create", os.WriteFile(filepath.Join(q, "x.eml"), []byte("From: a\r\n\r\nx\r\n"), 0o644)},
		} {
			if c.what == "rmdir entry" && errors.Is(c.err, syscall.ENOTDIR) {
				continue // the kernel knows a symlink is no directory
			}
			if !errors.Is(c.err, syscall.EROFS) && !errors.Is(c.err, syscall.EPERM) {
				t.Errorf("%s inside %s: %v, want EROFS or EPERM", c.what, q, c.err)
			}
		}
		fails(t, "rm", "-rf", q)
		fails(t, "rm", "-f", entry)
		fails(t, "mv", entry, m.mailboxPath("Archive")+"/")
		if after := uids(t, m.srv, "INBOX"); !slices.Equal(after, before) {
			t.Errorf("INBOX after trying to change a search directory: %v, before %v", after, before)
		}
		if got2 := lsSearch(t, q); !slices.Equal(got2, got) {
			t.Errorf("ls %s after trying to change it = %v, before %v", q, got2, got)
		}
	})
}

func TestSearchBigFolderSendsOneSearch(t *testing.T) {
	all := servers(t)
	for _, name := range []string{"memory", "dovecot-slash"} {
		t.Run(name, func(t *testing.T) {
			srv := all[name](t)
			start := time.Now()
			if srv.Kind == "dovecot" {
				seedMultiAppend(t, srv, "Bulk", 10000)
			} else {
				seedBulk(t, srv, "Bulk", 10000)
			}
			t.Logf("seeded 10,000 messages in %v", time.Since(start))
			m := mountServer(t, srv)
			bulk := m.mailboxPath("Bulk")
			for _, c := range []struct {
				query string
				n     int
			}{
				{`SUBJECT "bulk 4242"`, 1},
				{"FROM bulk@example.org", 10000},
				{"TEXT 9999", 1},
			} {
				m.proxy.Reset()
				start := time.Now()
				got := lsSearch(t, searchDir(bulk, c.query))
				elapsed := time.Since(start)
				cmds := checkSearchCommands(t, m, fmt.Sprintf("ls Bulk/.search/%q", c.query), 1)
				t.Logf("ls Bulk/.search/%q: %d entries in %v, commands %v", c.query, len(got), elapsed, cmds)
				want := uidNames(serverSearch(t, srv, "Bulk", c.query))
				if len(got) != c.n || !slices.Equal(got, want) {
					t.Errorf("ls Bulk/.search/%q: %d entries, separate client %d, want %d", c.query, len(got), len(want), c.n)
				}
			}
		})
	}
}

// seedMultiAppend appends n small messages to mailbox in one APPEND
// command carrying them all (MULTIAPPEND, RFC 3502, with LITERAL+): one
// transaction for Dovecot, which takes some 40 s for 10,000 separate
// appends and about a second this way. go-imap's client has no
// MULTIAPPEND, so this speaks the protocol itself.
func seedMultiAppend(t *testing.T, srv *imaptest.Server, mailbox string, n int) {
	t.Helper()
	if err := srv.Create(mailbox); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Minute))
	r := bufio.NewReader(conn)
	waitFor := func(tag string) {
		t.Helper()
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("multiappend: %v", err)
			}
			if strings.HasPrefix(line, tag+" ") {
				if !strings.HasPrefix(line, tag+" OK") {
					t.Fatalf("multiappend: %s", line)
				}
				return
			}
		}
	}
	if _, err := r.ReadString('\n'); err != nil { // greeting
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "a LOGIN %s %s\r\n", strconv.Quote(srv.Username), strconv.Quote(srv.Password))
	waitFor("a")
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "b APPEND %s", strconv.Quote(mailbox))
	for i := 0; i < n; i++ {
		msg := fmt.Sprintf("From: bulk@example.org\r\nSubject: bulk %d\r\nDate: Mon, 16 Nov 2026 10:00:00 +0000\r\n\r\nmessage %d\r\n", i, i)
		fmt.Fprintf(w, " {%d+}\r\n%s", len(msg), msg)
	}
	w.WriteString("\r\n")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor("b")
}

func TestSearchOnReadOnlyMountExamines(t *testing.T) {
	all := servers(t)
	for _, name := range []string{"memory", "dovecot-slash"} {
		t.Run(name, func(t *testing.T) {
			m := mountServerWith(t, all[name](t), imapfsfs.Options{ReadOnly: true})
			m.proxy.Reset()
			got := lsSearch(t, searchDir(m.mailboxPath("INBOX"), "FROM bob"))
			cmds := checkSearchCommands(t, m, "ls INBOX/.search/FROM bob on a read-only mount", 1)
			if cmds["SELECT"] != 0 || cmds["EXAMINE"] != 1 {
				t.Errorf("a search on a read-only mount sent %v, want EXAMINE, not SELECT", cmds)
			}
			if want := uidNames(serverSearch(t, m.srv, "INBOX", "FROM bob")); !slices.Equal(got, want) {
				t.Errorf("ls INBOX/.search/FROM bob = %v, server %v", got, want)
			}
		})
	}
}
