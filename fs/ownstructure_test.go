package fs_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand"
	"mime"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset"

	"github.com/imapfs/imapfs/cache"
	imapfsfs "github.com/imapfs/imapfs/fs"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// noMIMEVersion is a multipart message without a MIME-Version header,
// with an attachment of n random bytes: a text part in Latin-1, an
// alternative, the attachment and an encapsulated message.
func noMIMEVersion(uid uint32, n int) *imaptest.HostileMessage {
	data := make([]byte, n)
	rand.New(rand.NewSource(int64(uid))).Read(data)
	enc := base64.StdEncoding.EncodeToString(data)
	var b64 strings.Builder
	for len(enc) > 76 {
		b64.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b64.WriteString(enc)
	raw := strings.Join([]string{
		"From: a@example.org",
		fmt.Sprintf("Subject: no MIME-Version %d", uid),
		`Content-Type: multipart/mixed; boundary="XYZ"`,
		"",
		"preamble",
		"--XYZ",
		"Content-Type: text/plain; charset=iso-8859-1",
		"Content-Transfer-Encoding: quoted-printable",
		"",
		"Caf=E9 au lait",
		"--XYZ",
		`Content-Type: multipart/alternative; boundary="ALT"`,
		"",
		"--ALT",
		"Content-Type: text/plain",
		"",
		"plain alternative",
		"--ALT",
		"Content-Type: text/html",
		"",
		"<p>html alternative</p>",
		"--ALT--",
		"--XYZ",
		`Content-Type: application/octet-stream; name="data.bin"`,
		`Content-Disposition: attachment; filename="data.bin"`,
		"Content-Transfer-Encoding: base64",
		"",
		b64.String(),
		"--XYZ",
		"Content-Type: message/rfc822",
		"",
		"From: b@example.org",
		"Subject: inner",
		"",
		"inner body",
		"--XYZ--",
		"",
	}, "\r\n")
	return &imaptest.HostileMessage{UID: uid, Raw: []byte(raw)}
}

// decodedLeaves decodes a message with go-message, independently of the
// mount: its leaf parts by IMAP section number, a message/rfc822 part
// whole and its body's leaves below it.
func decodedLeaves(t *testing.T, raw []byte) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte)
	var walk func(e *message.Entity, path string, top bool)
	walk = func(e *message.Entity, path string, top bool) {
		join := func(i int) string {
			if path == "" {
				return fmt.Sprint(i)
			}
			return fmt.Sprintf("%s.%d", path, i)
		}
		if mr := e.MultipartReader(); mr != nil {
			for i := 1; ; i++ {
				child, err := mr.NextPart()
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Fatalf("decode part %s: %v", join(i), err)
				}
				walk(child, join(i), false)
			}
		}
		if top {
			path = join(1) // a non-multipart body is part 1 of its message
		}
		body, err := io.ReadAll(e.Body)
		if err != nil {
			t.Fatalf("decode part %s: %v", path, err)
		}
		out[path] = body
		if mt, _, _ := mime.ParseMediaType(e.Header.Get("Content-Type")); mt == "message/rfc822" {
			inner, err := message.Read(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("decode message %s: %v", path, err)
			}
			walk(inner, path, true)
		}
	}
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	walk(e, "", true)
	return out
}

// TestOwnStructureWithoutMIMEVersion mounts a server that, like Courier
// (strict RFC 2045), answers BODYSTRUCTURE text/plain for messages
// without MIME-Version, and BODY[n] after that structure: the parts
// still appear, numbered as IMAP numbers them, with attachments/, each
// file holding its decoded bytes at its stat size. The messages' sizes
// take each way the TEXT comes: with the structure, fetched after it,
// and with a part too large for a window, that would otherwise stream;
// with a cache that keeps them, and one that keeps little from one read
// to the next, where a message larger than half the cache is shown as
// the server describes it.
func TestOwnStructureWithoutMIMEVersion(t *testing.T) {
	for _, size := range []int64{0, 9 << 19} {
		t.Run(fmt.Sprintf("cache-%d", size), func(t *testing.T) {
			opts := imapfsfs.Options{}
			if size > 0 {
				opts.Cache = cache.New(size)
			}
			testOwnStructure(t, opts, size)
		})
	}
}

func testOwnStructure(t *testing.T, opts imapfsfs.Options, cacheSize int64) {
	inbox := &imaptest.HostileMailbox{Name: "INBOX", Messages: []*imaptest.HostileMessage{
		noMIMEVersion(1, 1000), noMIMEVersion(2, 200<<10), noMIMEVersion(3, 1536<<10),
	}}
	if cacheSize > 0 {
		inbox.Messages = append(inbox.Messages, noMIMEVersion(4, int(cacheSize/2)))
	}
	_, m := mountHostile(t, opts, inbox)
	for _, msg := range inbox.Messages {
		dir := filepath.Join(m.dir, "INBOX", fmt.Sprint(msg.UID))
		want := decodedLeaves(t, msg.Raw)
		header, text, _ := bytes.Cut(msg.Raw, []byte("\r\n\r\n"))
		want["HEADER"] = append(bytes.Clone(header), "\r\n\r\n"...)
		want["TEXT"] = text
		want["message.eml"] = msg.Raw
		want[filepath.Join("attachments", "data.bin")] = want["3"]
		wantNames := []string{"1", "2.1", "2.2", "3", "4", "4.1", "HEADER", "TEXT", "attachments", "message.eml"}
		if cacheSize > 0 && int64(len(msg.Raw)) > cacheSize/2 {
			// Too large to work out: the server's one part, its TEXT.
			want = map[string][]byte{"HEADER": want["HEADER"], "TEXT": text, "message.eml": msg.Raw, "1": text}
			wantNames = []string{"1", "HEADER", "TEXT", "message.eml"}
		}
		if got := slices.Sorted(slices.Values(lines(run(t, "ls", dir)))); !slices.Equal(got, wantNames) {
			t.Fatalf("ls %s = %q, want %q", dir, got, wantNames)
		}
		for pass := range 2 {
			got := checkSizes(t, dir)
			for name, data := range want {
				if !bytes.Equal(got[name], data) {
					t.Errorf("pass %d: %s/%s: %d bytes %.40q, want %d bytes %.40q", pass, dir, name, len(got[name]), got[name], len(data), data)
				}
			}
			if len(got) != len(want) {
				t.Errorf("pass %d: %s has %d files, want %d", pass, dir, len(got), len(want))
			}
			m.fsys.DropCaches() // the second pass finds nothing cached
		}
	}
}
