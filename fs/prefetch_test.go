package fs_test

import (
	"encoding/base64"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/emersion/go-imap/v2"

	imapfsfs "github.com/imapfs/imapfs/fs"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// needle is the word seedShapes puts in the text of every tenth message.
const needle = "zanzibarquux"

// seedShapes appends n generated messages of the shapes mail has (plain
// text, quoted-printable, text and HTML alternatives, small and medium
// attachments) over one connection, and returns the UIDs whose text holds
// needle.
func seedShapes(t testing.TB, srv *imaptest.Server, mailbox string, n int) (all, matching []imap.UID) {
	t.Helper()
	rng := rand.New(rand.NewSource(int64(n)))
	all = appendMessages(t, srv, mailbox, n, func(i int) []byte { return shapedMessage(rng, i) })
	if len(all) > 0 && all[0] == 0 {
		all = uids(t.(*testing.T), srv, mailbox) // no APPENDUID
	}
	for i, uid := range all {
		if i%10 == 3 {
			matching = append(matching, uid)
		}
	}
	return all, matching
}

// shapedMessage is message i of a generated folder, in CRLF form.
func shapedMessage(rng *rand.Rand, i int) []byte {
	words := func(n int) string {
		var b strings.Builder
		for j := 0; j < n; j++ {
			if j > 0 && j%12 == 0 {
				b.WriteString("\r\n")
			} else if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(fmt.Sprintf("w%x", rng.Intn(1<<20)))
		}
		return b.String()
	}
	text := words(40 + rng.Intn(400))
	if i%10 == 3 {
		text += "\r\nthe " + needle + " is here\r\n"
	}
	head := fmt.Sprintf("From: Sender %d <s%d@example.org>\r\nTo: me@example.org\r\nSubject: message %d\r\n"+
		"Date: Mon, 16 Nov 2026 10:%02d:00 +0000\r\nMessage-ID: <%d@example.org>\r\nMIME-Version: 1.0\r\n", i, i, i, i%60, i)
	switch i % 4 {
	case 0:
		return []byte(head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n")
	case 1:
		return []byte(head + "Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + text + "\r\n--b\r\n" +
			"Content-Type: text/html; charset=utf-8\r\n\r\n<p>" + text + "</p>\r\n--b--\r\n")
	default:
		size := 2000 + rng.Intn(20000)
		if i%20 == 2 {
			size = 100 << 10 // larger than what comes with the structure
		}
		blob := make([]byte, size)
		rng.Read(blob)
		enc := base64.StdEncoding.EncodeToString(blob)
		var b64 strings.Builder
		for len(enc) > 76 {
			b64.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b64.WriteString(enc + "\r\n")
		return []byte(head + "Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n--m\r\n" +
			"Content-Type: application/octet-stream; name=\"data" + strconv.Itoa(i) + ".bin\"\r\n" +
			"Content-Disposition: attachment; filename=\"data" + strconv.Itoa(i) + ".bin\"\r\n" +
			"Content-Transfer-Encoding: base64\r\n\r\n" + b64.String() + "--m--\r\n")
	}
}

// folderBytes is the sum of the RFC822.SIZE of a mailbox's messages.
func folderBytes(t *testing.T, srv *imaptest.Server, mailbox string) int64 {
	t.Helper()
	c := examine(t, srv, mailbox)
	msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{RFC822Size: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, m := range msgs {
		n += m.RFC822Size
	}
	return n
}

// fetches counts the commands that fetch message data, leaving out the
// folder listing's revalidation (STATUS, LIST, SELECT), which follows the
// list TTL and not the reads.
func fetches(cmds map[string]int) int { return cmds["UID FETCH"] + cmds["FETCH"] }

// matchedUIDs are the message directories grep -rl named.
func matchedUIDs(t *testing.T, folder, out string) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, line := range strings.Fields(out) {
		rel, err := filepath.Rel(folder, line)
		if err != nil {
			t.Fatal(err)
		}
		seen[strings.SplitN(rel, "/", 2)[0]] = true
	}
	var got []string
	for uid := range seen {
		got = append(got, uid)
	}
	sort.Strings(got)
	return got
}

// readers are the ways of reading a whole folder that read-ahead serves:
// each reads the folder at dir and returns what it printed.
var readers = []struct {
	name string
	read func(t *testing.T, folder string) string
}{
	{"grep -r", func(t *testing.T, folder string) string { return run(t, "grep", "-rl", needle, folder) }},
	// The shell sorts the names as strings: 1, 10, 100, 101, ...
	{"cat */HEADER", func(t *testing.T, folder string) string {
		return run(t, "sh", "-c", `cat "$1"/*/HEADER`, "sh", folder)
	}},
	{"ls -l */", func(t *testing.T, folder string) string {
		return run(t, "sh", "-c", `ls -l "$1"/*/`, "sh", folder)
	}},
	{"find -exec cat", func(t *testing.T, folder string) string {
		return run(t, "find", folder, "-type", "f", "-exec", "cat", "{}", "+")
	}},
}

// TestReadAheadBatches: a reader going through a folder of 300 messages
// costs a few UID FETCH commands in all, not a few per message (about 900
// without read-ahead), and reading it all again costs none. Only FETCH
// commands are counted: revalidating the listing (STATUS after the list
// TTL) is not the readers' doing.
func TestReadAheadBatches(t *testing.T) {
	emptyServers(t, func(t *testing.T, srv *imaptest.Server) {
		const n = 300
		_, matching := seedShapes(t, srv, "Bulk", n)
		size := folderBytes(t, srv, "Bulk")
		for _, r := range readers {
			t.Run(r.name, func(t *testing.T) {
				m := mountServer(t, srv)
				folder := filepath.Join(m.dir, "Bulk")
				run(t, "ls", folder)
				m.proxy.Reset()
				start := time.Now()
				first := r.read(t, folder)
				took := time.Since(start)
				m.fsys.WaitReadAhead()
				cmds := m.proxy.Commands()
				t.Logf("%s over %d messages: %v, %d commands %v", r.name, n, took, m.proxy.Total(), cmds)
				if f := fetches(cmds); f >= 40 {
					t.Errorf("%s over %d messages sent %d FETCH commands, want fewer than 40", r.name, n, f)
				}
				// A reader of every file has each message cross the link
				// about once: TEXT and the parts cut from it, not both.
				got := m.proxy.BytesFromServer()
				t.Logf("%s: %d bytes from the server for a folder of %d", r.name, got, size)
				if limit := size*5/4 + n*2048; (r.name == "grep -r" || r.name == "find -exec cat") && got > limit {
					t.Errorf("%s over a folder of %d bytes received %d from the server, want at most %d", r.name, size, got, limit)
				}
				if r.name == "grep -r" {
					if got, want := matchedUIDs(t, folder, first), uidNames(matching); strings.Join(got, " ") != strings.Join(want, " ") {
						t.Errorf("grep -rl found messages %v, want %v", got, want)
					}
				}
				m.proxy.Reset()
				second := r.read(t, folder)
				if f := fetches(m.proxy.Commands()); f != 0 {
					t.Errorf("second %s sent %d FETCH commands (%v), want 0", r.name, f, m.proxy.Commands())
				}
				if second != first {
					t.Errorf("second %s printed %d bytes, the first %d", r.name, len(second), len(first))
				}
			})
		}
	})
}

// TestRandomReadFetchesOneMessage: reading a few messages here and there
// fetches those messages only, not windows around them.
func TestRandomReadFetchesOneMessage(t *testing.T) {
	emptyServers(t, func(t *testing.T, srv *imaptest.Server) {
		all, _ := seedShapes(t, srv, "Bulk", 300)
		proxy, err := imaptest.NewFaultProxy(srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { proxy.Close() })
		m := mountVia(t, srv, proxy.Addr, 30*time.Second, imapfsfs.Options{})
		folder := filepath.Join(m.dir, "Bulk")
		run(t, "ls", folder)
		c := examine(t, srv, "Bulk")
		picks := []imap.UID{all[150], all[77], all[230], all[13]}
		var size int64
		for _, uid := range picks {
			msgs, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{RFC822Size: true}).Collect()
			if err != nil || len(msgs) != 1 {
				t.Fatalf("fetch size of %d: %v", uid, err)
			}
			size += msgs[0].RFC822Size
		}
		proxy.Reset()
		for _, uid := range picks {
			run(t, "cat", filepath.Join(folder, strconv.FormatUint(uint64(uid), 10), "TEXT"))
		}
		m.fsys.WaitReadAhead()
		got, cmds := proxy.BytesFromServer(), proxy.Commands()
		t.Logf("TEXT of %d messages (%d bytes): %d bytes from the server, %v", len(picks), size, got, cmds)
		// Each message's structure, small parts and TEXT: its bytes
		// about twice over, plus the protocol around them.
		if limit := 2*size + int64(len(picks))*4096; got > limit {
			t.Errorf("reading TEXT of %d messages of %d bytes took %d bytes from the server, want at most %d", len(picks), size, got, limit)
		}
		if f := fetches(cmds); f > 3*len(picks) {
			t.Errorf("reading TEXT of %d messages sent %d FETCH commands, want at most %d", len(picks), f, 3*len(picks))
		}
	})
}

// TestFSTestOverReadAhead: what windows bring (structures, small parts,
// BINARY.SIZE of the large ones) gives exact sizes from the first stat,
// as fstest checks over a folder of every shape; and fstest, which walks
// the folder, costs less than a FETCH per message.
func TestFSTestOverReadAhead(t *testing.T) {
	emptyServers(t, func(t *testing.T, srv *imaptest.Server) {
		const n = 16 // every shape, and a part too large to come with the structure
		all, _ := seedShapes(t, srv, "Bulk", n)
		m := mountServer(t, srv)
		var expected []string
		for _, uid := range all {
			expected = append(expected, fmt.Sprintf("%d/HEADER", uid), fmt.Sprintf("%d/TEXT", uid), fmt.Sprintf("%d/1", uid))
		}
		if err := fstest.TestFS(os.DirFS(filepath.Join(m.dir, "Bulk")), expected...); err != nil {
			t.Fatal(err)
		}
		if f := fetches(m.proxy.Commands()); f > n {
			t.Errorf("fstest over %d messages sent %d FETCH commands, want fewer than one per message", n, f)
		}
	})
}
