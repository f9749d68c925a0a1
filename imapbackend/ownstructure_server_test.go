package imapbackend_test

import (
	"bytes"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/imapfs/imapfs/imapbackend"
)

// TestParseStructureMatchesServer: the structure imapfs works out for a
// message a strict server calls text/plain numbers its parts as a server
// that reads the multipart numbers them, and each part cut from the TEXT
// is that server's BODY[n] byte for byte: over the sample mail, and on
// Dovecot over the MIME corpus when IMAPFS_MIME_CORPUS points at it.
func TestParseStructureMatchesServer(t *testing.T) {
	for name, start := range batchServers(t) {
		t.Run(name, func(t *testing.T) {
			c, mailboxes := sampleAndCorpus(t, name, start)
			for _, mailbox := range mailboxes {
				if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
					t.Fatal(err)
				}
				header := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
				text := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Peek: true}
				msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
					UID: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
					BodySection: []*imap.FetchItemBodySection{header, text},
				}).Collect()
				if err != nil {
					t.Fatal(err)
				}
				var multipart, worked, same, parts, cut int
				for _, m := range msgs {
					if _, multi := m.BodyStructure.(*imap.BodyStructureMultiPart); !multi {
						continue
					}
					multipart++
					body := m.FindBodySection(text)
					plain := &imap.BodyStructureSinglePart{Type: "TEXT", Subtype: "PLAIN", Encoding: "7BIT", Size: uint32(len(body))}
					st := &imapbackend.Structure{UID: m.UID, Body: plain, Parts: imapbackend.LeafParts(plain),
						Header: m.FindBodySection(header), Size: int64(len(m.FindBodySection(header)) + len(body))}
					if !st.ClaimsMultipart() {
						continue
					}
					own, ok := imapbackend.ParseStructure(st, body)
					if !ok {
						continue // bare LFs, or no delimiter: shown as the server's one part
					}
					worked++
					server := imapbackend.LeafParts(m.BodyStructure)
					if sections(own.Parts) != sections(server) {
						t.Logf("%s %d: sections %q, the server's %q", mailbox, m.UID, sections(own.Parts), sections(server))
						if mailbox == "INBOX" {
							t.Errorf("%s %d: sections differ from the server's", mailbox, m.UID)
						}
						continue
					}
					same++
					options := &imap.FetchOptions{UID: true}
					for _, p := range own.Parts {
						options.BodySection = append(options.BodySection, &imap.FetchItemBodySection{Part: p.Path, Peek: true})
					}
					want, err := c.Fetch(imap.UIDSetNum(m.UID), options).Collect()
					if err != nil || len(want) != 1 {
						t.Fatalf("%s %d: fetch parts: %v (%d answers)", mailbox, m.UID, err, len(want))
					}
					got := imapbackend.CutParts(own, body)
					for _, p := range own.Parts {
						parts++
						raw, ok := got[p.Section]
						if !ok {
							t.Errorf("%s %d: part %s of a structure worked out is not cut", mailbox, m.UID, p.Section)
							continue
						}
						if s := want[0].FindBodySection(&imap.FetchItemBodySection{Part: p.Path, Peek: true}); !bytes.Equal(raw, s) {
							t.Errorf("%s %d: part %s cut is %d bytes %q..., the server's %d bytes %q...",
								mailbox, m.UID, p.Section, len(raw), head(raw), len(s), head(s))
							continue
						}
						cut++
					}
				}
				t.Logf("%s: %d of %d multipart messages worked out, %d numbered as the server, %d of %d parts the server's bytes", mailbox, worked, multipart, same, cut, parts)
				if mailbox == "INBOX" && (worked == 0 || same != worked) {
					t.Errorf("%s: %d of %d structures numbered as the server", mailbox, same, worked)
				}
			}
		})
	}
}
