package imapbackend_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/imapfs/imapfs/imapbackend"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// batchServers are the servers the batch fetches are checked against.
func batchServers(t *testing.T) map[string]func(t *testing.T) *imaptest.Server {
	return map[string]func(t *testing.T) *imaptest.Server{
		"memory": func(t *testing.T) *imaptest.Server { return imaptest.NewMemory(t) },
		"dovecot": func(t *testing.T) *imaptest.Server {
			return imaptest.NewDovecot(t, imaptest.DovecotOptions{Delimiter: '/'})
		},
	}
}

// TestBatchesMatchSingleFetches: the batch fetches give, in one UID FETCH
// per chunk (and one per item list for the parts, sent back to back), what
// a client of its own fetches message by message; a UID the server does
// not have is absent.
func TestBatchesMatchSingleFetches(t *testing.T) {
	for name, start := range batchServers(t) {
		t.Run(name, func(t *testing.T) {
			srv := start(t)
			b, proxy := openThroughProxy(t, srv)
			ctx := context.Background()
			snap, err := b.Snapshot(ctx, "INBOX")
			if err != nil {
				t.Fatal(err)
			}
			var uids []imap.UID
			for _, m := range snap.Messages {
				uids = append(uids, m.UID)
			}
			gone := snap.UIDNext + 10
			uv := snap.UIDValidity
			ref := newReference(t, srv)

			var reqs []imapbackend.PartsRequest
			lists := map[string]bool{}
			for _, uid := range uids {
				parts := imapbackend.LeafParts(ref.message(uid, nil).BodyStructure)
				var probed []imapbackend.Part
				for _, p := range parts {
					if !p.IsMessage() {
						probed = append(probed, p)
					}
				}
				reqs = append(reqs, imapbackend.PartsRequest{UID: uid, Parts: parts, Probed: probed})
				lists[sections(parts)+"|"+sections(probed)] = true
			}

			proxy.Reset()
			texts := map[imap.UID][]byte{}
			err = b.FetchSections(ctx, "INBOX", uv, append(slices.Clone(uids), gone), "TEXT", nil, func(uid imap.UID, raw []byte) {
				texts[uid] = raw
			})
			if err != nil {
				t.Fatal(err)
			}
			if n := proxy.Commands()["UID FETCH"]; n != 1 || len(texts) != len(uids) {
				t.Errorf("FetchSections TEXT of %d messages: %d UID FETCH, %d answers; want 1 and %d", len(uids), n, len(texts), len(uids))
			}
			for _, uid := range uids {
				one, err := b.FetchSection(ctx, "INBOX", uv, uid, "TEXT", nil)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(texts[uid], one) {
					t.Errorf("FetchSections gives TEXT of %d as %d bytes, FetchSection as %d", uid, len(texts[uid]), len(one))
				}
			}

			// StructureChunks: structures and parts, chunk by chunk, in order.
			proxy.Reset()
			half := len(uids) / 2
			chunks := [][]imap.UID{uids[:half], append(slices.Clone(uids[half:]), gone)}
			var order []int
			sts := map[imap.UID]*imapbackend.Structure{}
			chunkParts := map[imap.UID]imapbackend.PartsResult{}
			err = b.StructureChunks(ctx, "INBOX", uv, chunks, nil, func(st *imapbackend.Structure) imapbackend.PartsRequest {
				for _, r := range reqs {
					if r.UID == st.UID {
						return r
					}
				}
				return imapbackend.PartsRequest{}
			}, func(chunk map[imap.UID]*imapbackend.Structure, parts map[imap.UID]imapbackend.PartsResult) {
				order = append(order, len(chunk))
				maps.Copy(sts, chunk)
				maps.Copy(chunkParts, parts)
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(order, []int{half, len(uids) - half}) || sts[gone] != nil {
				t.Errorf("StructureChunks of chunks of %d and %d+1 messages (one missing) gave chunks of %v", half, len(uids)-half, order)
			}
			cmds := proxy.Commands()
			t.Logf("StructureChunks of 2 chunks, %d item lists: %v", len(lists), cmds)
			if n := cmds["UID FETCH"]; n < 2 || n > 2+2*2*len(lists) {
				t.Errorf("StructureChunks of 2 chunks with %d item lists sent %d UID FETCH", len(lists), n)
			}
			for _, r := range reqs {
				want := ref.message(r.UID, &r)
				st := sts[r.UID]
				if st == nil || st.Size != want.RFC822Size || !bytes.Equal(st.Header, want.FindBodySection(headerItem)) ||
					sections(st.Parts) != sections(imapbackend.LeafParts(want.BodyStructure)) {
					t.Errorf("StructureChunks gives message %d as %+v", r.UID, st)
					continue
				}
				got := chunkParts[r.UID]
				for _, p := range r.Parts {
					if raw := want.FindBodySection(&imap.FetchItemBodySection{Part: p.Path, Peek: true}); !bytes.Equal(got.Raw[p.Section], raw) {
						t.Errorf("StructureChunks gives part %s of %d as %d bytes, the server %d", p.Section, r.UID, len(got.Raw[p.Section]), len(raw))
					}
				}
				for _, p := range r.Probed {
					head, tail := probeItems(p)
					probe := got.Probes[p.Section]
					if !bytes.Equal(probe.Head, want.FindBodySection(head)) || !bytes.Equal(probe.Tail, want.FindBodySection(tail)) || probe.Head == nil {
						t.Errorf("StructureChunks gives the probe of %s of %d as %d+%d bytes, the server %d+%d", p.Section, r.UID,
							len(probe.Head), len(probe.Tail), len(want.FindBodySection(head)), len(want.FindBodySection(tail)))
					}
				}
			}

			// With their TEXT: one UID FETCH per chunk when the texted
			// messages need nothing more, each TEXT the server's.
			proxy.Reset()
			texted := map[imap.UID][]byte{}
			err = b.StructureChunks(ctx, "INBOX", uv, chunks, func(uid imap.UID) bool { return true },
				func(*imapbackend.Structure) imapbackend.PartsRequest { return imapbackend.PartsRequest{} },
				func(_ map[imap.UID]*imapbackend.Structure, parts map[imap.UID]imapbackend.PartsResult) {
					for uid, r := range parts {
						texted[uid] = r.Text
					}
				})
			if err != nil {
				t.Fatal(err)
			}
			if n := proxy.Commands()["UID FETCH"]; n != len(chunks) || len(texted) != len(uids) {
				t.Errorf("StructureChunks with TEXT of %d chunks: %d UID FETCH, %d TEXTs of %d messages", len(chunks), n, len(texted), len(uids))
			}
			for _, uid := range uids {
				if !bytes.Equal(texted[uid], texts[uid]) {
					t.Errorf("StructureChunks gives the TEXT of %d as %d bytes, the server %d", uid, len(texted[uid]), len(texts[uid]))
				}
			}

			var stale *imapbackend.UIDValidityError
			if err := b.StructureChunks(ctx, "INBOX", uv+1, [][]imap.UID{uids}, nil, func(*imapbackend.Structure) imapbackend.PartsRequest {
				return imapbackend.PartsRequest{}
			}, func(map[imap.UID]*imapbackend.Structure, map[imap.UID]imapbackend.PartsResult) {}); !errors.As(err, &stale) {
				t.Errorf("StructureChunks under another UIDVALIDITY: %v, want a UIDValidityError", err)
			}
			if err := b.FetchSections(ctx, "INBOX", uv+1, uids, "TEXT", nil, func(imap.UID, []byte) {}); !errors.As(err, &stale) {
				t.Errorf("FetchSections under another UIDVALIDITY: %v, want a UIDValidityError", err)
			}
		})
	}
}

var headerItem = &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}

// reference fetches message by message with a client of its own, not
// through the backend: what the batches must match.
type reference struct {
	t *testing.T
	c *imapclient.Client
}

func newReference(t *testing.T, srv *imaptest.Server) *reference {
	t.Helper()
	c, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	return &reference{t: t, c: c}
}

// message fetches the structure, size and header of uid and, with r, the
// raw parts and probes r asks for.
func (ref *reference) message(uid imap.UID, r *imapbackend.PartsRequest) *imapclient.FetchMessageBuffer {
	ref.t.Helper()
	options := &imap.FetchOptions{
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		RFC822Size:    true,
		BodySection:   []*imap.FetchItemBodySection{headerItem},
	}
	if r != nil {
		for _, p := range r.Parts {
			options.BodySection = append(options.BodySection, &imap.FetchItemBodySection{Part: p.Path, Peek: true})
		}
		for _, p := range r.Probed {
			head, tail := probeItems(p)
			options.BodySection = append(options.BodySection, head, tail)
		}
	}
	msgs, err := ref.c.Fetch(imap.UIDSetNum(uid), options).Collect()
	if err != nil || len(msgs) != 1 {
		ref.t.Fatalf("reference fetch of %d: %v (%d answers)", uid, err, len(msgs))
	}
	return msgs[0]
}

func sections(parts []imapbackend.Part) string {
	var names []string
	for _, p := range parts {
		names = append(names, p.Section)
	}
	return strings.Join(names, " ")
}

// probeItems are the reference's own spelling of a probe: the first
// ProbeSize bytes, and ProbeSize+1 from ProbeSize before the end.
func probeItems(p imapbackend.Part) (head, tail *imap.FetchItemBodySection) {
	n := int64(imapbackend.ProbeSize)
	head = &imap.FetchItemBodySection{Part: p.Path, Peek: true, Partial: &imap.SectionPartial{Offset: 0, Size: n}}
	tail = &imap.FetchItemBodySection{Part: p.Path, Peek: true, Partial: &imap.SectionPartial{Offset: max(p.Size-n, 1), Size: n + 1}}
	return head, tail
}
