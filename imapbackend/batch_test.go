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
// (one per item list for FetchPartsMany, sent back to back), what the
// one-message fetches give; a UID the server does not have is absent.
func TestBatchesMatchSingleFetches(t *testing.T) {
	for name, start := range batchServers(t) {
		t.Run(name, func(t *testing.T) {
			b, proxy := openThroughProxy(t, start(t))
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

			proxy.Reset()
			sts, err := b.Structures(ctx, "INBOX", uv, append(slices.Clone(uids), gone))
			if err != nil {
				t.Fatal(err)
			}
			if n := proxy.Commands()["UID FETCH"]; n != 1 || len(sts) != len(uids) || sts[gone] != nil {
				t.Errorf("Structures of %d messages and a missing one: %d UID FETCH, %d structures; want 1 and %d", len(uids), n, len(sts), len(uids))
			}
			var reqs []imapbackend.PartsRequest
			lists := map[string]bool{}
			for _, uid := range uids {
				one, err := b.Structure(ctx, "INBOX", uv, uid)
				if err != nil {
					t.Fatal(err)
				}
				st := sts[uid]
				if st == nil || st.Size != one.Size || !bytes.Equal(st.Header, one.Header) || sections(st.Parts) != sections(one.Parts) {
					t.Errorf("Structures gives message %d as %+v, Structure as %+v", uid, st, one)
					continue
				}
				var sized []imapbackend.Part
				for _, p := range st.Parts {
					if !p.IsMessage() {
						sized = append(sized, p)
					}
				}
				reqs = append(reqs, imapbackend.PartsRequest{UID: uid, Parts: st.Parts, Sized: sized})
				lists[sections(st.Parts)+"|"+sections(sized)] = true
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

			proxy.Reset()
			parts, err := b.FetchPartsMany(ctx, "INBOX", uv, reqs)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("FetchPartsMany of %d messages, %d item lists: %v", len(reqs), len(lists), proxy.Commands())
			if n := proxy.Commands()["UID FETCH"]; n < len(lists) || n > 2*len(lists) {
				t.Errorf("FetchPartsMany of %d messages with %d item lists sent %d UID FETCH", len(reqs), len(lists), n)
			}
			for _, r := range reqs {
				raw, sizes, err := b.FetchParts(ctx, "INBOX", uv, r.UID, r.Parts, r.Sized)
				if err != nil {
					t.Fatal(err)
				}
				got := parts[r.UID]
				if !maps.EqualFunc(got.Raw, raw, bytes.Equal) || !maps.Equal(got.Sizes, sizes) {
					t.Errorf("FetchPartsMany gives message %d as %d parts %v, FetchParts as %d parts %v", r.UID, len(got.Raw), got.Sizes, len(raw), sizes)
				}
			}

			// StructureChunks: the same, chunk by chunk, in order.
			proxy.Reset()
			half := len(uids) / 2
			chunks := [][]imap.UID{uids[:half], append(slices.Clone(uids[half:]), gone)}
			var order []int
			chunkParts := map[imap.UID]imapbackend.PartsResult{}
			err = b.StructureChunks(ctx, "INBOX", uv, chunks, func(st *imapbackend.Structure) imapbackend.PartsRequest {
				for _, r := range reqs {
					if r.UID == st.UID {
						return r
					}
				}
				return imapbackend.PartsRequest{}
			}, func(chunk map[imap.UID]*imapbackend.Structure, parts map[imap.UID]imapbackend.PartsResult) {
				order = append(order, len(chunk))
				for uid, st := range chunk {
					if want := sts[uid]; want == nil || st.Size != want.Size || !bytes.Equal(st.Header, want.Header) {
						t.Errorf("StructureChunks gives message %d as %+v", uid, st)
					}
				}
				maps.Copy(chunkParts, parts)
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(order, []int{half, len(uids) - half}) {
				t.Errorf("StructureChunks of chunks of %d and %d+1 messages gave chunks of %v", half, len(uids)-half, order)
			}
			for _, r := range reqs {
				if got, want := chunkParts[r.UID], parts[r.UID]; !maps.EqualFunc(got.Raw, want.Raw, bytes.Equal) || !maps.Equal(got.Sizes, want.Sizes) {
					t.Errorf("StructureChunks gives the parts of %d as %v, FetchPartsMany as %v", r.UID, got.Sizes, want.Sizes)
				}
			}
			t.Logf("StructureChunks of 2 chunks: %v", proxy.Commands())

			var stale *imapbackend.UIDValidityError
			if _, err := b.Structures(ctx, "INBOX", uv+1, uids); !errors.As(err, &stale) {
				t.Errorf("Structures under another UIDVALIDITY: %v, want a UIDValidityError", err)
			}
			if err := b.StructureChunks(ctx, "INBOX", uv+1, [][]imap.UID{uids}, func(*imapbackend.Structure) imapbackend.PartsRequest {
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

func sections(parts []imapbackend.Part) string {
	var names []string
	for _, p := range parts {
		names = append(names, p.Section)
	}
	return strings.Join(names, " ")
}
