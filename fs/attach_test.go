package fs_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"golang.org/x/text/encoding/traditionalchinese"

	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// attachmentMessage has what attachments/ must cope with: an RFC 2231
// UTF-8 name, hostile names, a duplicate name, an unnamed image, and an
// attachment inside a forwarded message. Its subject is Big5, RFC 2047.
func attachmentMessage() (msg string, files map[string][]byte) {
	files = map[string][]byte{
		"résumé.pdf":     []byte("%PDF-1.4 résumé\x00\x01\x02"),
		"passwd":         []byte("root:x:0:0::/root:/bin/sh\n"),
		"c.txt":          []byte("backslash name\n"),
		"report.pdf":     []byte("%PDF-1.4 first report"),
		"report (2).pdf": []byte("%PDF-1.4 second report"),
		"part-7.png":     {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 0},
		"inner.txt":      []byte("attached to the forwarded message\n"),
	}
	b64 := func(name string) string {
		return base64.StdEncoding.EncodeToString(files[name])
	}
	big5, _ := traditionalchinese.Big5.NewEncoder().String("會議記錄")
	msg = "From: =?iso-8859-1?q?Ren=E9?= <rene@example.org>\r\nTo: you@example.org\r\n" +
		"Subject: =?big5?b?" + base64.StdEncoding.EncodeToString([]byte(big5)) + "?=\r\nDate: Tue, 17 Nov 2026 10:00:00 +0100\r\n" +
		"Message-ID: <att-1@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" +
		"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n" +
		"--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64("résumé.pdf") + "\r\n" +
		"--B\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"../../etc/passwd\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64("passwd") + "\r\n" +
		"--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"a/b\\\\c.txt\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64("c.txt") + "\r\n" +
		"--B\r\nContent-Type: application/pdf; name=report.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64("report.pdf") + "\r\n" +
		"--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=report.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64("report (2).pdf") + "\r\n" +
		"--B\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64("part-7.png") + "\r\n" +
		"--B\r\nContent-Type: message/rfc822\r\n\r\n" +
		"From: bob@example.org\r\nSubject: inner\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=I\r\n\r\n" +
		"--I\r\nContent-Type: text/plain\r\n\r\ninner body\r\n" +
		"--I\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=inner.txt\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64("inner.txt") + "\r\n--I--\r\n" +
		"\r\n--B--\r\n"
	return msg, files
}

func TestAttachmentsByName(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		msg, files := attachmentMessage()
		uid, err := m.srv.Append("INBOX", []byte(msg), nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		dir := msgPath(m, "INBOX", uid)
		var want []string
		for name := range files {
			want = append(want, name)
		}
		slices.Sort(want)
		got, err := os.ReadDir(filepath.Join(dir, "attachments"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range got {
			names = append(names, e.Name())
		}
		if !slices.Equal(names, want) {
			t.Errorf("attachments/ = %q, want %q", names, want)
		}
		// cp of everything: exact bytes, human names, nothing outside DEST.
		parent := t.TempDir()
		dest := filepath.Join(parent, "Downloads")
		os.Mkdir(dest, 0o755)
		run(t, "sh", "-c", "cp "+filepath.Join(dir, "attachments")+"/* "+dest+"/")
		for name, data := range files {
			copied, err := os.ReadFile(filepath.Join(dest, name))
			if err != nil || string(copied) != string(data) {
				t.Errorf("copied %s: %q, %v; want %q", name, copied, err, data)
			}
		}
		if entries, _ := os.ReadDir(parent); len(entries) != 1 {
			t.Errorf("cp wrote outside the destination: %v", entries)
		}
		// The same bytes as the numbered file, and the part's metadata.
		if a, b := run(t, "cat", filepath.Join(dir, "attachments", "résumé.pdf")), run(t, "cat", filepath.Join(dir, "2")); a != b {
			t.Error("attachments/résumé.pdf differs from part 2")
		}
		meta := run(t, "getfattr", "-d", "-e", "text", filepath.Join(dir, "attachments", "résumé.pdf"))
		for _, want := range []string{`user.mime.type="application/pdf"`, `user.mime.disposition="attachment"`, `user.mime.encoding="base64"`} {
			if !strings.Contains(meta, want) {
				t.Errorf("getfattr -d of résumé.pdf lacks %s:\n%s", want, meta)
			}
		}
		if got := xattr(t, filepath.Join(dir, "attachments", "résumé.pdf"), "user.mime.filename"); got != "résumé.pdf" {
			t.Errorf("user.mime.filename = %q", got)
		}
		// Mail metadata on the message directory, decoded to UTF-8.
		for name, want := range map[string]string{"user.mail.subject": "會議記錄", "user.mail.from": "René <rene@example.org>",
			"user.mail.message-id": "<att-1@example.org>", "user.mail.to": "you@example.org", "user.mail.date": "2026-11-17T10:00:00+01:00"} {
			if got := xattr(t, dir, name); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
		if dump := run(t, "getfattr", "-d", dir); !strings.Contains(dump, "user.mail.subject=") {
			t.Errorf("getfattr -d does not list user.mail.*:\n%s", dump)
		}
		// A message without attachments has no such directory.
		plain := msgPath(m, "INBOX", uids(t, m.srv, "INBOX")[0])
		if _, err := os.Stat(filepath.Join(plain, "attachments")); !os.IsNotExist(err) {
			t.Errorf("plain message has attachments/: %v", err)
		}
		// rm -r still removes a message with attachments/ in one go.
		run(t, "rm", "-r", dir)
		if _, ok := flagsOf(t, m.srv, "INBOX", uid); ok {
			t.Error("rm -r of a message with attachments left it")
		}
	})
}

func TestFolderAttributesMatchStatus(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		storeFlags(t, m.srv, "INBOX", uids(t, m.srv, "INBOX")[0], imap.StoreFlagsAdd, imap.FlagSeen)
		c, err := m.srv.Dial()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, NumUnseen: true, UIDNext: true, UIDValidity: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		dump := run(t, "getfattr", "-d", filepath.Join(m.dir, "INBOX"))
		for _, want := range []string{
			`user.imap.uidvalidity="` + strconv.FormatUint(uint64(st.UIDValidity), 10) + `"`,
			`user.imap.uidnext="` + strconv.FormatUint(uint64(st.UIDNext), 10) + `"`,
			`user.imap.messages="` + strconv.FormatUint(uint64(*st.NumMessages), 10) + `"`,
			`user.imap.unseen="` + strconv.FormatUint(uint64(*st.NumUnseen), 10) + `"`,
			`user.imap.attributes=`,
		} {
			if !strings.Contains(dump, want) {
				t.Errorf("getfattr -d INBOX lacks %s:\n%s", want, dump)
			}
		}
	})
}

func TestIndexFile(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		msg, _ := attachmentMessage()
		uid, err := m.srv.Append("INBOX", []byte(msg), []imap.Flag{imap.FlagFlagged}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		index := run(t, "cat", filepath.Join(m.dir, "INBOX", ".index"))
		rows := strings.Split(strings.TrimSuffix(index, "\n"), "\n")
		if want := len(uids(t, m.srv, "INBOX")); len(rows) != want {
			t.Fatalf(".index has %d lines, INBOX %d messages:\n%s", len(rows), want, index)
		}
		last := strings.Split(rows[len(rows)-1], "\t")
		if len(last) != 6 || last[0] != strconv.Itoa(int(uid)) || last[1] != "2026-11-17T10:00:00+01:00" ||
			last[2] != "René <rene@example.org>" || last[3] != "會議記錄" || !strings.Contains(last[5], `\Flagged`) {
			t.Errorf(".index line = %q", last)
		}
		if size, err := strconv.Atoi(last[4]); err != nil || size < len(msg)-100 {
			t.Errorf(".index size column = %q for a %d-byte message", last[4], len(msg))
		}
		// The ISO-8859-1 subject of the sample mail reads in UTF-8.
		if !strings.Contains(run(t, "grep", "-i", "réunion", filepath.Join(m.dir, "INBOX", ".index")), "\t") {
			t.Error("grep réunion in .index found nothing")
		}
		// Hidden: ls and find never meet it.
		if ls := run(t, "ls", "-A", filepath.Join(m.dir, "INBOX")); strings.Contains(ls, ".index") {
			t.Errorf("ls -A lists .index: %s", ls)
		}
	})
}

func TestIndexCostsConstantCommands(t *testing.T) {
	srv := imaptest.NewMemory(t)
	seedBulk(t, srv, "Bulk", 1000)
	m := mountServer(t, srv)
	run(t, "ls", m.dir)
	m.proxy.Reset()
	index := run(t, "cat", filepath.Join(m.dir, "Bulk", ".index"))
	if n := strings.Count(index, "\n"); n != 1000 {
		t.Fatalf(".index has %d lines, want 1000", n)
	}
	cmds := m.proxy.Commands()
	t.Logf(".index of 1000 messages: %d commands %v", m.proxy.Total(), cmds)
	if m.proxy.Total() > 3 || cmds["UID FETCH"] != 1 {
		t.Errorf(".index of 1000 messages sent %v", cmds)
	}
}

// xattr reads one attribute with getfattr, as its raw value.
func xattr(t *testing.T, path, name string) string {
	t.Helper()
	return run(t, "getfattr", "--only-values", "-n", name, path)
}
