package fs_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	imapfsfs "github.com/imapfs/imapfs/fs"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// streamMount mounts srv through a fault proxy (with no fault on), which
// counts both the commands and the bytes the server sends.
func streamMount(t *testing.T, srv *imaptest.Server) (mounted, *imaptest.FaultProxy) {
	t.Helper()
	proxy, err := imaptest.NewFaultProxy(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	return mountVia(t, srv, proxy.Addr, 30*time.Second, imapfsfs.Options{}), proxy
}

// TestStreamLargeAttachment: a 20 MB base64 attachment is read in raw
// windows decoded as they come, never whole: head reads one small window, dd
// of the middle the part up to there, cp all of it once, and copying it
// again asks the server nothing.
func TestStreamLargeAttachment(t *testing.T) {
	srv := imaptest.NewDovecot(t, imaptest.DovecotOptions{Delimiter: '/'})
	payload := make([]byte, 20<<20+4321)
	rand.New(rand.NewSource(11)).Read(payload)
	// Two copies: one read in pieces, one copied whole, so that neither
	// finds the other's windows in the cache.
	var uids []imap.UID
	for range 2 {
		uid, err := srv.Append("INBOX", largeAttachmentMessage(payload), nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, uid)
	}
	m, proxy := streamMount(t, srv)
	var dirs []string
	for _, uid := range uids {
		dir := filepath.Join(m.dir, "INBOX", strconv.Itoa(int(uid)))
		if st, err := os.Stat(filepath.Join(dir, "2")); err != nil || st.Size() != int64(len(payload)) {
			t.Fatalf("stat %s/2: %v, %v; want %d bytes", dir, st, err, len(payload))
		}
		dirs = append(dirs, dir)
	}
	src := filepath.Join(dirs[0], "2")

	proxy.Reset()
	if got := run(t, "head", "-c", "1000", src); got != string(payload[:1000]) {
		t.Fatal("head -c 1000 gave other bytes")
	}
	head := proxy.BytesFromServer()
	t.Logf("head -c 1000: %d bytes from the server, %v", head, proxy.Commands())
	if head >= 2<<20 {
		t.Errorf("head -c 1000 of a %d MiB part took %d bytes from the server, want < 2 MiB", len(payload)>>20, head)
	}

	proxy.Reset()
	got := run(t, "dd", "if="+src, "bs=1M", "skip=7", "count=2", "status=none")
	if got != string(payload[7<<20:9<<20]) {
		t.Errorf("dd of MiB 7 to 9 gave %d other bytes", len(got))
	}
	t.Logf("dd of 2 MiB in the middle: %d bytes from the server, %v", proxy.BytesFromServer(), proxy.Commands())
	// The part up to there (a base64 window is only right if every line
	// before it is regular, which only those lines show), and the
	// read-ahead a reader going in order gets (1 MiB, then 4 MiB), in raw
	// base64: not the rest of the part's 28 MB.
	if n, most := proxy.BytesFromServer(), int64(len(encodeBase64Lines(payload[:14<<20])))+1<<20; n >= most {
		t.Errorf("dd of 2 MiB at 7 MiB took %d bytes from the server, want < %d", n, most)
	}

	proxy.Reset()
	dir := dirs[1]
	src = filepath.Join(dir, "2")
	dst := filepath.Join(t.TempDir(), "big.bin")
	run(t, "cp", src, dst)
	copied, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(copied) != sha256.Sum256(payload) {
		t.Fatalf("cp gave %d bytes that differ from the %d sent", len(copied), len(payload))
	}
	fetches, bytesIn := proxy.Commands()["UID FETCH"], proxy.BytesFromServer()
	t.Logf("cp: %d UID FETCH, %d bytes from the server for %d bytes", fetches, bytesIn, len(payload))
	if fetches < 3 {
		t.Errorf("cp of %d MiB sent %d UID FETCH: not fetched in windows", len(payload)>>20, fetches)
	}
	// Raw base64 windows decoded here, each once: about the part's
	// encoded size, not twice that.
	encoded := int64(len(encodeBase64Lines(payload)))
	if bytesIn > encoded+1<<20 {
		t.Errorf("cp took %d bytes from the server for a part of %d bytes encoded", bytesIn, encoded)
	}

	// Again: the kernel's page cache, or imapfs's cache, answers.
	proxy.Reset()
	run(t, "cp", src, dst+".2")
	run(t, "cp", filepath.Join(dir, "attachments", "big.bin"), dst+".3")
	if n := proxy.Commands()["UID FETCH"]; n != 0 {
		t.Errorf("copying again sent %d UID FETCH", n)
	}
	for _, name := range []string{dst + ".2", dst + ".3"} {
		again, err := os.ReadFile(name)
		if err != nil || !bytes.Equal(again, payload) {
			t.Errorf("%s: %d bytes, %v; not the part", name, len(again), err)
		}
	}
}

// TestStreamLargeText: TEXT of a large message comes in raw windows
// (BODY.PEEK[TEXT]<o.n>) and equals BODY.PEEK[TEXT]; so does message.eml.
func TestStreamLargeText(t *testing.T) {
	srv := imaptest.NewDovecot(t, imaptest.DovecotOptions{Delimiter: '/'})
	payload := make([]byte, 3<<20)
	rand.New(rand.NewSource(12)).Read(payload)
	uid, err := srv.Append("INBOX", largeAttachmentMessage(payload), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m, proxy := streamMount(t, srv)
	c := examine(t, srv, "INBOX")
	dir := filepath.Join(m.dir, "INBOX", strconv.Itoa(int(uid)))
	for _, f := range []struct {
		name string
		item *imap.FetchItemBodySection
	}{
		{"TEXT", &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Peek: true}},
		{"message.eml", &imap.FetchItemBodySection{Peek: true}},
	} {
		want := fetchSection(t, c, uid, f.item)
		proxy.Reset()
		got := run(t, "cat", filepath.Join(dir, f.name))
		fetches, bytesIn := proxy.Commands()["UID FETCH"], proxy.BytesFromServer()
		t.Logf("cat %s (%d bytes): %d UID FETCH, %d bytes from the server", f.name, len(want), fetches, bytesIn)
		if got != string(want) {
			t.Errorf("%s: %d bytes that differ from the server's %d", f.name, len(got), len(want))
		}
		if fetches < 2 {
			t.Errorf("cat %s sent %d UID FETCH: not streamed in windows", f.name, fetches)
		}
		if bytesIn > int64(len(want))+1<<20 {
			t.Errorf("cat %s took %d bytes from the server for %d", f.name, bytesIn, len(want))
		}
	}
}

// TestStreamWithoutBinary: a large base64 part is streamed in raw windows
// decoded here, which needs nothing of the server but BODY.PEEK; its size
// comes from a probe of its two ends, not from BINARY.SIZE.
func TestStreamWithoutBinary(t *testing.T) {
	srv := imaptest.NewMemoryWith(t, imaptest.MemoryOptions{Without: []imap.Cap{imap.CapBinary}})
	payload := make([]byte, 2<<20+5)
	rand.New(rand.NewSource(13)).Read(payload)
	uid, err := srv.Append("INBOX", largeAttachmentMessage(payload), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m, proxy := streamMount(t, srv)
	src := filepath.Join(m.dir, "INBOX", strconv.Itoa(int(uid)), "2")
	dst := filepath.Join(t.TempDir(), "big.bin")
	if st, err := os.Stat(src); err != nil || st.Size() != int64(len(payload)) {
		t.Fatalf("stat without BINARY: %v, %v; want %d bytes", st, err, len(payload))
	}
	proxy.Reset()
	run(t, "cp", src, dst)
	if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("cp without BINARY gave %d bytes (%v), want the original %d", len(got), err, len(payload))
	}
	if n := proxy.Commands()["UID FETCH"]; n < 2 {
		t.Errorf("cp without BINARY sent %d UID FETCH: not streamed in windows", n)
	}
}

// irregularMessage is a message whose part 2 is payload in base64 lines of
// varying length, which no probe of its ends can size.
func irregularMessage(payload []byte, rnd *rand.Rand) []byte {
	enc := base64.StdEncoding.EncodeToString(payload)
	var body bytes.Buffer
	for len(enc) > 0 {
		n := min(len(enc), 4*(10+rnd.Intn(10)))
		body.WriteString(enc[:n] + "\r\n")
		enc = enc[n:]
	}
	return []byte("From: a@example.org\r\nSubject: irregular\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n" +
		"--XX\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n" +
		"--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" + body.String() + "--XX--\r\n")
}

// TestIrregularBase64SizeExact: base64 in lines of varying length has a
// decoded size nothing but its bytes tell: looking the file up fetches it
// (once), so that stat is exact before the first read, and cp then costs
// no further fetch.
func TestIrregularBase64SizeExact(t *testing.T) {
	srv := imaptest.NewDovecot(t, imaptest.DovecotOptions{Delimiter: '/'})
	payload := make([]byte, 3<<20+7)
	rnd := rand.New(rand.NewSource(14))
	rnd.Read(payload)
	msg := irregularMessage(payload, rnd)
	uid, err := srv.Append("INBOX", msg, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m, proxy := streamMount(t, srv)
	src := filepath.Join(m.dir, "INBOX", strconv.Itoa(int(uid)), "2")
	proxy.Reset()
	if st, err := os.Stat(src); err != nil || st.Size() != int64(len(payload)) {
		t.Fatalf("stat: %v, %v; want %d bytes", st, err, len(payload))
	}
	looked := proxy.Commands()["UID FETCH"]
	dst := filepath.Join(t.TempDir(), "irregular.bin")
	run(t, "cp", src, dst)
	if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("cp of irregular base64 gave %d bytes (%v), want the original %d", len(got), err, len(payload))
	}
	t.Logf("stat and cp: %v, %d bytes from the server", proxy.Commands(), proxy.BytesFromServer())
	if n := proxy.Commands()["UID FETCH"]; n != looked {
		t.Errorf("cp after stat sent %d UID FETCH more: the lookup's fetch was not kept", n-looked)
	}
	if n := proxy.BytesFromServer(); n > int64(len(msg))*5/4 {
		t.Errorf("stat and cp took %d bytes from the server for a %d byte message", n, len(msg))
	}
}

// TestQuotedPrintableSizeExact: a large quoted-printable part's decoded
// size is not known before its bytes are (BINARY.SIZE is not trusted):
// looking it up fetches it once, so stat is exact from the start, and cat
// then reads the decoded text without a further fetch.
func TestQuotedPrintableSizeExact(t *testing.T) {
	srv := imaptest.NewDovecot(t, imaptest.DovecotOptions{Delimiter: '/'})
	var text, qp bytes.Buffer
	for i := 0; text.Len() < 2<<20; i++ {
		line := "line " + strconv.Itoa(i) + " caf\xc3\xa9 = 3\r\n"
		text.WriteString(line)
		qp.WriteString("line " + strconv.Itoa(i) + " caf=C3=A9 =3D 3\r\n")
	}
	msg := "From: a@example.org\r\nSubject: qp\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n" +
		"--XX\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n" +
		"--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Disposition: attachment; filename=log.txt\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		qp.String() + "--XX--\r\n"
	uid, err := srv.Append("INBOX", []byte(msg), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The line end before the boundary belongs to the boundary.
	want := strings.TrimSuffix(text.String(), "\r\n")
	m, proxy := streamMount(t, srv)
	src := filepath.Join(m.dir, "INBOX", strconv.Itoa(int(uid)), "2")
	if st, err := os.Stat(src); err != nil || st.Size() != int64(len(want)) {
		t.Fatalf("stat: %v, %v; want %d bytes", st, err, len(want))
	}
	proxy.Reset()
	if got := run(t, "cat", src); got != want {
		t.Fatalf("cat of the quoted-printable part: %d bytes, not the %d decoded", len(got), len(want))
	}
	if n := proxy.Commands()["UID FETCH"]; n != 0 {
		t.Errorf("cat after stat sent %d UID FETCH: the lookup's fetch was not kept", n)
	}
}
