package imapbackend_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/imapfs/imapfs"
	"github.com/imapfs/imapfs/imapbackend"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// TestCutPartsMatchServer: every part CutParts takes out of a message's
// TEXT is byte for byte the server's BODY[n], over the sample mail on both
// servers and, on Dovecot, over the MIME corpus (real-world and malformed
// messages) when IMAPFS_MIME_CORPUS points at it; and it does cut the
// parts of well-formed multipart mail, and a single-part message's part 1
// is its TEXT.
func TestCutPartsMatchServer(t *testing.T) {
	for name, start := range batchServers(t) {
		t.Run(name, func(t *testing.T) {
			c, mailboxes := sampleAndCorpus(t, name, start)
			for _, mailbox := range mailboxes {
				leaves, cut := checkCuts(t, c, mailbox)
				t.Logf("%s: %d of %d leaf parts cut from TEXT", mailbox, cut, leaves)
				if mailbox == "INBOX" && (leaves == 0 || cut != leaves) {
					t.Errorf("%s: %d of %d leaf parts cut from TEXT, want all", mailbox, cut, leaves)
				}
			}
		})
	}
}

// checkCuts compares CutParts with the server for every message of
// mailbox: what it returns must be the server's bytes. It counts the leaf
// parts and those cut.
func checkCuts(t *testing.T, c *imapclient.Client, mailbox string) (leaves, cut int) {
	t.Helper()
	if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	text := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Peek: true}
	msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection: []*imap.FetchItemBodySection{text},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		st := &imapbackend.Structure{UID: m.UID, Body: m.BodyStructure, Parts: imapbackend.LeafParts(m.BodyStructure)}
		got := imapbackend.CutParts(st, m.FindBodySection(text))
		if _, multi := m.BodyStructure.(*imap.BodyStructureMultiPart); !multi {
			leaves++
			raw, ok := got["1"]
			if len(got) > 1 || (len(got) == 1 && !ok) {
				t.Errorf("%s %d: CutParts of a single-part message gave %d parts", mailbox, m.UID, len(got))
			}
			if !ok {
				continue
			}
			cut++
			one := &imap.FetchItemBodySection{Part: []int{1}, Peek: true}
			want, err := c.Fetch(imap.UIDSetNum(m.UID), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{one}}).Collect()
			if err != nil || len(want) != 1 || !bytes.Equal(raw, want[0].FindBodySection(one)) {
				t.Errorf("%s %d: part 1 of a single-part message is not its TEXT (%v)", mailbox, m.UID, err)
			}
			continue
		}
		options := &imap.FetchOptions{UID: true}
		for _, p := range st.Parts {
			options.BodySection = append(options.BodySection, &imap.FetchItemBodySection{Part: p.Path, Peek: true})
		}
		want, err := c.Fetch(imap.UIDSetNum(m.UID), options).Collect()
		if err != nil || len(want) != 1 {
			t.Fatalf("%s %d: fetch parts: %v (%d answers)", mailbox, m.UID, err, len(want))
		}
		for _, p := range st.Parts {
			server := want[0].FindBodySection(&imap.FetchItemBodySection{Part: p.Path, Peek: true})
			leaves++
			raw, ok := got[p.Section]
			if !ok {
				continue
			}
			cut++
			if !bytes.Equal(raw, server) {
				t.Errorf("%s %d: part %s cut from TEXT is %d bytes %q..., the server's %d bytes %q...",
					mailbox, m.UID, p.Section, len(raw), head(raw), len(server), head(server))
			}
		}
	}
	return leaves, cut
}

func head(b []byte) []byte { return b[:min(len(b), 40)] }

// appendCorpus appends every .raw message under dir to mailbox.
func appendCorpus(t *testing.T, srv *imaptest.Server, dir, mailbox string) {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".raw") {
			files = append(files, p)
		}
		return err
	})
	if len(files) < 50 {
		t.Fatalf("corpus %s: only %d messages", dir, len(files))
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Append(mailbox, raw, nil, time.Now()); err != nil {
			t.Fatalf("append %s: %v", f, err)
		}
	}
}

// sampleAndCorpus starts a server seeded with the sample mail and, on
// Dovecot, the MIME corpus when IMAPFS_MIME_CORPUS points at it, and
// returns a client of its own and the mailboxes to go through.
func sampleAndCorpus(t *testing.T, name string, start func(t *testing.T) *imaptest.Server) (*imapclient.Client, []string) {
	t.Helper()
	srv := start(t)
	if err := srv.Seed(imapfs.SampleMail, "testdata/mail"); err != nil {
		t.Fatal(err)
	}
	mailboxes := []string{"INBOX"}
	if dir := os.Getenv("IMAPFS_MIME_CORPUS"); dir != "" && name == "dovecot" {
		appendCorpus(t, srv, dir, "Corpus")
		mailboxes = append(mailboxes, "Corpus")
	}
	c, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, mailboxes
}
