package fs_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	imapfsfs "github.com/imapfs/imapfs/fs"
)

// attachmentFile is one attachment of a generated message: the name it is
// sent under, the name attachments/ must show, and its bytes.
type attachmentFile struct {
	sent, shown string
	data        []byte
}

// multipartWith builds a message of a text part followed by files, each
// base64 encoded and named with RFC 2231 (percent-encoded UTF-8), so that
// any name reaches the server intact.
func multipartWith(subject string, files []attachmentFile) string {
	var b strings.Builder
	b.WriteString("From: a@example.org\r\nTo: b@example.org\r\nSubject: " + subject + "\r\n" +
		"Date: Tue, 17 Nov 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" +
		"--B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n")
	for _, f := range files {
		b.WriteString("--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n")
		b.WriteString("Content-Disposition: attachment; filename*=utf-8''" + pctEncode(f.sent) + "\r\n\r\n")
		enc := base64.StdEncoding.EncodeToString(f.data)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	b.WriteString("--B--\r\n")
	return b.String()
}

func pctEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// hostileNames are the names of issue 15, cases 4 and 6, with what
// attachments/ shows for each: parts are 2, 3, ... (1 is the text).
func hostileNames() []attachmentFile {
	ascii := "a." + strings.Repeat("x", 252)
	utf := "a." + strings.Repeat("é", 126)
	files := []attachmentFile{
		{sent: ascii, shown: ascii},
		{sent: ascii, shown: ascii[:251] + " (2)"},
		{sent: utf, shown: utf},
		{sent: utf, shown: utf[:250] + " (2)"}, // cut between two é
		{sent: ". .", shown: "part-6.bin"},
		{sent: ". ..", shown: "part-7.bin"},
		{sent: ". .bashrc", shown: "bashrc"},
		{sent: "evil\u202egpj.exe", shown: "evilgpj.exe"},
		{sent: "zero\u200bwidth\ufeff\u2060.txt", shown: "zerowidth.txt"},
		{sent: "\u2066..\u2069", shown: "part-11.bin"},
		{sent: "..", shown: "part-12.bin"},
		{sent: "\u200e\u200f\u061c.profile", shown: "profile"},
	}
	for i := range files {
		files[i].data = []byte(fmt.Sprintf("part %d, sent as %q\x00\xff", i+2, files[i].sent))
	}
	return files
}

// sameNames is one message with n attachments all called report.pdf, of
// different bytes.
func sameNames(n int) []attachmentFile {
	rnd := rand.New(rand.NewSource(15))
	files := make([]attachmentFile, n)
	for i := range files {
		data := make([]byte, 20+rnd.Intn(200))
		rnd.Read(data)
		shown := "report.pdf"
		if i > 0 {
			shown = fmt.Sprintf("report (%d).pdf", i+1)
		}
		files[i] = attachmentFile{sent: "report.pdf", shown: shown, data: append([]byte(fmt.Sprintf("attachment %d\n", i+1)), data...)}
	}
	return files
}

// checkAttachmentsDir lists dir/attachments with ls and reads every file
// with cat: the names are the expected ones, valid for a directory entry,
// and each file holds its part's bytes.
func checkAttachmentsDir(t *testing.T, dir string, files []attachmentFile) {
	t.Helper()
	listing := strings.Split(strings.TrimSuffix(run(t, "ls", "-a", "-1", filepath.Join(dir, "attachments")), "\n"), "\n")
	var names, want []string
	dots := map[string]int{}
	for _, name := range listing {
		if name == "." || name == ".." {
			// The directory's own entries, if listed, and never an attachment.
			if dots[name]++; dots[name] > 1 {
				t.Errorf("ls -a lists %q twice", name)
			}
			continue
		}
		names = append(names, name)
	}
	for _, f := range files {
		want = append(want, f.shown)
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("ls attachments/ = %q, want %q", names, want)
	}
	for _, name := range names {
		bad := !utf8.ValidString(name) || len(name) > 255 || strings.HasPrefix(name, ".") ||
			strings.ContainsAny(name, "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\u061c\ufeff")
		if bad {
			t.Errorf("listed name %q (%d bytes) is not a safe name", name, len(name))
		}
	}
	for _, f := range files {
		got := run(t, "cat", filepath.Join(dir, "attachments", f.shown))
		if !bytes.Equal([]byte(got), f.data) {
			t.Errorf("cat attachments/%q = %q, want %q", f.shown, got, f.data)
		}
	}
}

// TestAttachmentNamesHostile: names of issue 15 cases 4 and 6 come out
// unique, at most 255 bytes of valid UTF-8, never ".", ".." or hidden,
// without bidi or zero-width characters; every file reads to its bytes
// and the message directory stays readable; naming happens once.
func TestAttachmentNamesHostile(t *testing.T) {
	forEachServer(t, func(t *testing.T, m *mount) {
		files := hostileNames()
		uid, err := m.srv.Append("INBOX", []byte(multipartWith("hostile names", files)), nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		before := imapfsfs.AttachmentNamings()
		dir := msgPath(m, "INBOX", uid)
		if got := run(t, "ls", dir); !strings.Contains(got, "attachments") {
			t.Errorf("ls %s = %q, no attachments/", dir, got)
		}
		checkAttachmentsDir(t, dir, files)
		run(t, "ls", "-la", dir, filepath.Join(dir, "attachments"))
		if got := run(t, "cat", filepath.Join(dir, "6")); got != string(files[4].data) {
			t.Errorf("cat 6 = %q", got)
		}
		if n := imapfsfs.AttachmentNamings() - before; n != 1 {
			t.Errorf("attachments named %d times for one message, want once", n)
		}
		// The rest of the mount is untouched.
		run(t, "ls", filepath.Join(m.dir, "INBOX"))
		run(t, "cat", filepath.Join(msgPath(m, "INBOX", uids(t, m.srv, "INBOX")[0]), "HEADER"))
	})
}

// TestAttachmentNamesMany: a message of 2,000 attachments all named
// report.pdf lists as report.pdf, report (2).pdf, ... report (2000).pdf,
// each readable to its bytes, and is named once however many lookups
// (issue 15, case 5: minutes of quadratic naming redone per lookup
// before).
func TestAttachmentNamesMany(t *testing.T) {
	m := mountServer(t, servers(t)["memory"](t))
	files := sameNames(2000)
	uid, err := m.srv.Append("INBOX", []byte(multipartWith("many names", files)), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	before := imapfsfs.AttachmentNamings()
	dir := msgPath(m, "INBOX", uid)
	checkAttachmentsDir(t, dir, files)
	run(t, "ls", "-la", dir)
	if _, err := os.Stat(filepath.Join(dir, "attachments", "report (2001).pdf")); !os.IsNotExist(err) {
		t.Errorf("stat report (2001).pdf: %v, want ENOENT", err)
	}
	if n := imapfsfs.AttachmentNamings() - before; n != 1 {
		t.Errorf("attachments named %d times for one message, want once", n)
	}
}
