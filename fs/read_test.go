package fs_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // charsets for the reference decoder

	"github.com/imapfs/imapfs/cache"
	imapfsfs "github.com/imapfs/imapfs/fs"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// sampleMailboxes are the mailboxes of testdata/mail, '/'-separated.
var sampleMailboxes = []string{"INBOX", "Work", "Work/Projects", "Archive/2025"}

func (m *mount) serverName(path string) string {
	return strings.ReplaceAll(path, "/", string(m.srv.Delimiter))
}

func TestTreeMatchesServer(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		if got := lines(run(t, "ls", m.dir)); strings.Join(got, " ") != "Archive INBOX Work" {
			t.Errorf("ls MOUNT = %v, want Archive INBOX Work", got)
		}
		if got := lines(run(t, "ls", filepath.Join(m.dir, "Archive"))); strings.Join(got, " ") != "2025" {
			t.Errorf("ls Archive = %v, want 2025", got)
		}
		for _, path := range sampleMailboxes {
			name := m.serverName(path)
			var want []string
			for _, uid := range uids(t, m.srv, name) {
				want = append(want, strconv.FormatUint(uint64(uid), 10))
			}
			if path == "Work" {
				want = append(want, "Projects")
			}
			want = lines(strings.Join(want, " "))
			got := lines(run(t, "ls", m.mailboxPath(name)))
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("ls %s = %v, want %v (UID SEARCH ALL plus child mailboxes)", path, got, want)
			}
		}
	})
}

func TestHeaderAndTextAreByteExact(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		c, err := m.srv.Dial()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, path := range sampleMailboxes {
			name := m.serverName(path)
			if _, err := c.Select(name, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
				t.Fatal(err)
			}
			for _, uid := range uids(t, m.srv, name) {
				dir := filepath.Join(m.mailboxPath(name), strconv.Itoa(int(uid)))
				for _, spec := range []imap.PartSpecifier{imap.PartSpecifierHeader, imap.PartSpecifierText} {
					want := fetchSection(t, c, uid, &imap.FetchItemBodySection{Specifier: spec, Peek: true})
					got := run(t, "cat", filepath.Join(dir, string(spec)))
					if got != string(want) {
						t.Errorf("%s/%d/%s: %d bytes differ from BODY.PEEK[%s] (%d bytes)", path, uid, spec, len(got), spec, len(want))
					}
					st, err := os.Stat(filepath.Join(dir, string(spec)))
					if err != nil || st.Size() != int64(len(want)) {
						t.Errorf("stat %s/%d/%s: size %v, err %v; want %d", path, uid, spec, st.Size(), err, len(want))
					}
				}
				st, err := os.Stat(dir)
				if err != nil || st.ModTime().IsZero() || st.ModTime().Year() < 2000 {
					t.Errorf("message directory %s mtime = %v, %v; want INTERNALDATE", dir, st.ModTime(), err)
				}
			}
		}
	})
}

// referenceParts decodes a whole message independently of imapfs: go-message
// parses the MIME tree of BODY[], numbering leaves as IMAP does, undoing
// transfer encodings, and converting charsets only for inline text.
func referenceParts(t *testing.T, raw []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	var walk func(e *message.Entity, section string, top bool)
	walk = func(e *message.Entity, section string, top bool) {
		if mr := e.MultipartReader(); mr != nil {
			for i := 1; ; i++ {
				p, err := mr.NextPart()
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Fatalf("reference parser: section %s: %v", section, err)
				}
				walk(p, join(section, i), false)
			}
		}
		if top {
			section = "1"
		}
		body, err := io.ReadAll(e.Body)
		if err != nil {
			t.Fatalf("reference parser: section %s: %v", section, err)
		}
		out[section] = body
		mediaType, _, _ := e.Header.ContentType()
		if strings.EqualFold(mediaType, "message/rfc822") {
			inner, err := message.Read(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("reference parser: inner message %s: %v", section, err)
			}
			if inner.MultipartReader() != nil {
				walk(inner, section, false)
			} else {
				b, _ := io.ReadAll(inner.Body)
				out[section+".1"] = b
			}
		}
	}
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("reference parser: %v", err)
	}
	// go-message converts the charset of every text part, attachments
	// included, where imapfs keeps attachments byte-exact: the sample mail's
	// text attachments are UTF-8, so the two agree on it.
	walk(e, "", true)
	return out
}

func join(section string, i int) string {
	if section == "" {
		return strconv.Itoa(i)
	}
	return section + "." + strconv.Itoa(i)
}

func TestPartsMatchIndependentDecoding(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		c, err := m.srv.Dial()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, path := range []string{"INBOX", "Work", "Archive/2025"} {
			name := m.serverName(path)
			if _, err := c.Select(name, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
				t.Fatal(err)
			}
			for _, uid := range uids(t, m.srv, name) {
				raw := fetchSection(t, c, uid, &imap.FetchItemBodySection{Peek: true})
				want := referenceParts(t, raw)
				dir := filepath.Join(m.mailboxPath(name), strconv.Itoa(int(uid)))
				var files []string
				for _, f := range lines(run(t, "ls", dir)) {
					if f != "HEADER" && f != "TEXT" && f != "message.eml" && f != "attachments" {
						files = append(files, f)
					}
				}
				if got := run(t, "cat", filepath.Join(dir, "message.eml")); got != string(raw) {
					t.Errorf("%s/%d/message.eml differs from BODY.PEEK[] (%d vs %d bytes)", path, uid, len(got), len(raw))
				}
				if len(files) != len(want) {
					t.Errorf("%s/%d: part files %v, reference has %d parts", path, uid, files, len(want))
				}
				for _, f := range files {
					w, ok := want[f]
					if !ok {
						t.Errorf("%s/%d/%s: no such part in the reference", path, uid, f)
						continue
					}
					if got := run(t, "cat", filepath.Join(dir, f)); got != string(w) {
						t.Errorf("%s/%d/%s:\n got %q\nwant %q", path, uid, f, clip(got), clip(string(w)))
					}
				}
			}
		}
	})
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

func TestGrepFindsWordInsideBase64Part(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		out := run(t, "grep", "-rl", "zanzibarquokka", filepath.Join(m.dir, "INBOX"))
		got := lines(out)
		if len(got) != 1 || filepath.Base(got[0]) != "1" {
			t.Fatalf("grep -rl found %v, want exactly one part file named 1", got)
		}
		// The word is only there after decoding: the raw body has base64.
		text := filepath.Join(filepath.Dir(got[0]), "TEXT")
		if strings.Contains(run(t, "cat", text), "zanzibarquokka") {
			t.Errorf("%s holds the word in clear: the test message is not base64", text)
		}
	})
}

func TestCopyLargeBase64Attachment(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		payload := make([]byte, 5<<20+123)
		rand.New(rand.NewSource(1)).Read(payload)
		msg := largeAttachmentMessage(payload)
		uid, err := m.srv.Append("INBOX", msg, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(t.TempDir(), "big.bin")
		src := filepath.Join(m.dir, "INBOX", strconv.Itoa(int(uid)), "2")
		// Both servers have BINARY: the size is exact before any read.
		if st, err := os.Stat(src); err != nil || st.Size() != int64(len(payload)) {
			t.Errorf("size before reading = %v (%v), want %d from BINARY.SIZE", st.Size(), err, len(payload))
		}
		run(t, "cp", src, dst)
		got, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("cp gave %d bytes, want the original %d bytes", len(got), len(payload))
		}
	})
}

func largeAttachmentMessage(payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString("From: a@example.org\r\nTo: b@example.org\r\nSubject: big\r\nDate: Mon, 16 Nov 2026 10:00:00 +0000\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n" +
		"--XX\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n" +
		"--XX\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=big.bin\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	enc := encodeBase64Lines(payload)
	b.Write(enc)
	b.WriteString("--XX--\r\n")
	return b.Bytes()
}

func TestReadingEverythingLeavesSeenUnset(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		run(t, "find", m.dir, "-type", "f", "-exec", "cat", "{}", "+")
		c, err := m.srv.Dial()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		checked := 0
		for _, path := range sampleMailboxes {
			if _, err := c.Select(m.serverName(path), &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
				t.Fatal(err)
			}
			msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1}}, &imap.FetchOptions{Flags: true, UID: true}).Collect()
			if err != nil {
				t.Fatal(err)
			}
			for _, msg := range msgs {
				checked++
				for _, f := range msg.Flags {
					if f == imap.FlagSeen {
						t.Errorf("%s/%d is \\Seen after reading through the mount", path, msg.UID)
					}
				}
			}
		}
		if checked < 10 {
			t.Errorf("checked only %d messages", checked)
		}
	})
}

func TestFSTestOverAFolder(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		inbox := uids(t, m.srv, "INBOX")
		var expected []string
		for _, uid := range inbox {
			expected = append(expected, fmt.Sprintf("%d/HEADER", uid), fmt.Sprintf("%d/TEXT", uid))
		}
		if err := fstest.TestFS(os.DirFS(filepath.Join(m.dir, "INBOX")), expected...); err != nil {
			t.Fatal(err)
		}
	})
}

func TestReadingTwiceFetchesOnce(t *testing.T) {
	srv := servers(t)["memory"](t)
	m := mountServer(t, srv)
	file := filepath.Join(m.dir, "INBOX", "2", "2")
	first := run(t, "cat", file)
	fetches := m.proxy.Commands()["UID FETCH"]
	second := run(t, "cat", file)
	// A different path to the same bytes bypasses the kernel's page cache
	// of the first file, so only imapfs's own cache can answer it.
	if got := m.proxy.Commands()["UID FETCH"]; got != fetches {
		t.Errorf("second read sent %d more UID FETCH", got-fetches)
	}
	if first != second || len(first) == 0 {
		t.Errorf("second read differs (%d vs %d bytes)", len(second), len(first))
	}
}

// TestMessageEMLReusesHeaderAndText: BODY[] is BODY[HEADER] + BODY[TEXT],
// so after those two, message.eml costs no fetch (grep -r reads all three).
func TestMessageEMLReusesHeaderAndText(t *testing.T) {
	srv := servers(t)["dovecot-slash"](t)
	m := mountServer(t, srv)
	c, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	for _, uid := range uids(t, srv, "INBOX") {
		dir := filepath.Join(m.dir, "INBOX", strconv.Itoa(int(uid)))
		run(t, "cat", filepath.Join(dir, "HEADER"), filepath.Join(dir, "TEXT"))
		m.fsys.WaitReadAhead() // of the next messages: not message.eml's doing
		m.proxy.Reset()
		got := run(t, "cat", filepath.Join(dir, "message.eml"))
		if n := m.proxy.Commands()["UID FETCH"]; n != 0 {
			t.Errorf("message.eml of %d sent %d UID FETCH after HEADER and TEXT (%v)", uid, n, m.proxy.Commands())
		}
		if want := fetchSection(t, c, uid, &imap.FetchItemBodySection{Peek: true}); got != string(want) {
			t.Errorf("message.eml of %d differs from BODY.PEEK[]", uid)
		}
	}
}

func TestListingCostsConstantCommands(t *testing.T) {
	emptyServers(t, func(t *testing.T, srv *imaptest.Server) {
		seedBulk(t, srv, "Small", 10)
		seedBulk(t, srv, "Bulk", 1000)
		m := mountServer(t, srv)
		count := func(folder string, want int) (int, map[string]int) {
			m.proxy.Reset()
			out := run(t, "ls", "-l", filepath.Join(m.dir, folder))
			if n := strings.Count(out, "\n") - 1; n != want {
				t.Fatalf("ls -l %s listed %d entries, want %d", folder, n, want)
			}
			return m.proxy.Total(), m.proxy.Commands()
		}
		// A plain ls has the kernel look up no entry (no READDIRPLUS):
		// 100,000 messages must not become 100,000 nodes.
		if n := len(lines(run(t, "ls", filepath.Join(m.dir, "Bulk")))); n != 1000 {
			t.Fatalf("ls Bulk listed %d names, want 1000", n)
		}
		if got := lookedUp(t, m); got != 0 {
			t.Errorf("ls of 1000 messages looked up %d message directories, want 0", got)
		}
		m.fsys.DropCaches() // the counts below start cold
		small, _ := count("Small", 10)
		big, cmds := count("Bulk", 1000)
		if got := lookedUp(t, m); got != 1010 {
			t.Errorf("ls -l of 1010 messages in all looked up %d message directories, want 1010", got)
		}
		t.Logf("ls -l of 1000 messages: %d commands %v; of 10: %d", big, cmds, small)
		// SELECT and UID FETCH, and a LIST when the mailbox list was due
		// for a refresh: never anything that grows with the folder.
		if big > 3 || big > small || cmds["UID FETCH"] != 1 {
			t.Errorf("ls -l of 1000 messages sent %d commands %v, of 10 messages %d; want at most 3 with one UID FETCH", big, cmds, small)
		}
	})
}

// TestPageCacheServesSecondRead: content read once is served again by the
// kernel's page cache, without a fetch, even when imapfs's own cache could
// not keep it (here a cache of 4 KiB): a second grep -r of a folder larger
// than --cache-size sends nothing.
func TestPageCacheServesSecondRead(t *testing.T) {
	for _, kind := range []string{"memory", "dovecot-slash"} {
		t.Run(kind, func(t *testing.T) {
			m := mountServerWith(t, servers(t)[kind](t), imapfsfs.Options{Cache: cache.New(4 << 10)})
			inbox := m.mailboxPath("INBOX")
			first := run(t, "grep", "-r", "-c", "", inbox)
			m.fsys.WaitReadAhead()
			m.proxy.Reset()
			if again := run(t, "grep", "-r", "-c", "", inbox); again != first {
				t.Errorf("second grep -r printed %q, the first %q", again, first)
			}
			if n := m.proxy.Commands()["UID FETCH"]; n != 0 {
				t.Errorf("second grep -r with a 4 KiB cache sent %d UID FETCH (%v), want 0", n, m.proxy.Commands())
			}
			m.fsys.DropCaches() // SIGHUP: read from the server again
			m.proxy.Reset()
			run(t, "grep", "-r", "-c", "", inbox)
			if n := m.proxy.Commands()["UID FETCH"]; n == 0 {
				t.Error("grep -r after DropCaches fetched nothing")
			}
		})
	}
}

// lookedUp reads from the status file how many message directories the
// kernel has looked up so far.
func lookedUp(t *testing.T, m *mount) int {
	t.Helper()
	status := run(t, "cat", filepath.Join(m.dir, ".imapfs", "status"))
	for _, line := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(line, "messages:"); ok {
			var listed, folders, looked int
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d listed in %d folders, %d directories looked up", &listed, &folders, &looked); err != nil {
				t.Fatalf("status line %q: %v", line, err)
			}
			return looked
		}
	}
	t.Fatalf("no messages: line in the status file:\n%s", status)
	return 0
}

// seedBulk appends n small messages.
func seedBulk(t *testing.T, srv *imaptest.Server, mailbox string, n int) {
	t.Helper()
	appendMessages(t, srv, mailbox, n, func(i int) []byte {
		return []byte(fmt.Sprintf("From: bulk@example.org\r\nSubject: bulk %d\r\nDate: Mon, 16 Nov 2026 10:00:00 +0000\r\n\r\nmessage %d\r\n", i, i))
	})
}

// appendMessages creates mailbox and appends message(0) to message(n-1)
// over one connection (Server.Append logs in anew for each, which costs
// Dovecot an auth round per message). It returns the UIDs APPENDUID gave,
// zeros from a server without UIDPLUS.
func appendMessages(t testing.TB, srv *imaptest.Server, mailbox string, n int, message func(i int) []byte) []imap.UID {
	t.Helper()
	if err := srv.Create(mailbox); err != nil {
		t.Fatal(err)
	}
	c, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	appended := make([]imap.UID, 0, n)
	for i := 0; i < n; i++ {
		msg := message(i)
		cmd := c.Append(mailbox, int64(len(msg)), nil)
		cmd.Write(msg)
		cmd.Close()
		data, err := cmd.Wait()
		if err != nil {
			t.Fatalf("append to %s: %v", mailbox, err)
		}
		appended = append(appended, data.UID)
	}
	return appended
}

// emptyServers runs test against an empty memory server and an empty
// Dovecot, each in a subtest of its own.
func emptyServers(t *testing.T, test func(t *testing.T, srv *imaptest.Server)) {
	t.Run("memory", func(t *testing.T) { test(t, imaptest.NewMemory(t)) })
	t.Run("dovecot", func(t *testing.T) {
		test(t, imaptest.NewDovecot(t, imaptest.DovecotOptions{Delimiter: '/'}))
	})
}

func TestBrokenMIMEReadsInFull(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		name := m.serverName("Work/Projects")
		for _, uid := range uids(t, m.srv, name) {
			dir := filepath.Join(m.mailboxPath(name), strconv.Itoa(int(uid)))
			run(t, "find", dir, "-type", "f", "-exec", "cat", "{}", "+")
		}
		// The mount is still up and answering.
		if got := lines(run(t, "ls", m.dir)); len(got) != 3 {
			t.Errorf("after reading broken MIME, ls MOUNT = %v", got)
		}
	})
}

func encodeBase64Lines(b []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(b)
	var out bytes.Buffer
	for len(enc) > 76 {
		out.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	out.WriteString(enc + "\r\n")
	return out.Bytes()
}

// TestSameBytesAreCachedOnce: the part 1 of a message that is not
// multipart is its TEXT, and message.eml is HEADER and TEXT: grep -r reads
// all of them, and the cache holds each byte once, so that a folder fits
// it as well as it can.
func TestSameBytesAreCachedOnce(t *testing.T) {
	emptyServers(t, func(t *testing.T, srv *imaptest.Server) {
		const n = 10
		body := strings.Repeat("Grüße aus dem Text, eine Zeile nach der anderen.\r\n", 1200) // 60 KiB
		appendMessages(t, srv, "Single", n, func(i int) []byte {
			return []byte(fmt.Sprintf("From: a@example.org\r\nSubject: single %d\r\nMIME-Version: 1.0\r\n"+
				"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s", i, body))
		})
		m := mountServer(t, srv)
		var raw int
		for _, uid := range uids(t, srv, "Single") {
			dir := filepath.Join(m.dir, "Single", strconv.Itoa(int(uid)))
			header := run(t, "cat", filepath.Join(dir, "HEADER"))
			text := run(t, "cat", filepath.Join(dir, "TEXT"))
			if part := run(t, "cat", filepath.Join(dir, "1")); part != text {
				t.Errorf("%s/1 (%d bytes) is not its TEXT (%d bytes)", dir, len(part), len(text))
			}
			if whole := run(t, "cat", filepath.Join(dir, "message.eml")); whole != header+text {
				t.Errorf("%s/message.eml is not HEADER and TEXT", dir)
			}
			raw += len(header) + len(text)
		}
		if cached := cachedMiB(t, m); cached > 1.3*float64(raw)/(1<<20) {
			t.Errorf("the cache holds %.1f MiB after reading %d messages of %.1f MiB in all: bytes held twice", cached, n, float64(raw)/(1<<20))
		}
	})
}

// cachedMiB reads from the status file how much the cache holds.
func cachedMiB(t *testing.T, m *mount) float64 {
	t.Helper()
	status := run(t, "cat", filepath.Join(m.dir, ".imapfs", "status"))
	for _, line := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(line, "cache:"); ok {
			var held float64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%f MiB", &held); err != nil {
				t.Fatalf("status line %q: %v", line, err)
			}
			return held
		}
	}
	t.Fatalf("no cache: line in the status file:\n%s", status)
	return 0
}

// TestMailboxListReadAhead: the mailbox list read once the mount is up
// (ListMailboxes) serves the first ls, which sends no LIST of its own.
func TestMailboxListReadAhead(t *testing.T) {
	srv := servers(t)["memory"](t)
	m := mountServer(t, srv)
	m.proxy.Reset()
	m.fsys.ListMailboxes(context.Background())
	deadline := time.Now().Add(10 * time.Second)
	for m.proxy.Commands()["LIST"] == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := m.proxy.Commands()["LIST"]; n != 1 {
		t.Fatalf("ListMailboxes sent %d LIST, want 1", n)
	}
	// The answer may still be on its way: ls waits for it, not for a
	// LIST of its own.
	if got := run(t, "ls", m.dir); !strings.Contains(got, "INBOX") {
		t.Fatalf("ls of the mount gave %q, no INBOX", got)
	}
	if n := m.proxy.Commands()["LIST"]; n != 1 {
		t.Errorf("ls after ListMailboxes sent %d more LIST", n-1)
	}
}
