package fs

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/imapfs/imapfs/cache"
	"github.com/imapfs/imapfs/imapbackend"
)

// What a window fetches and where it keeps it: sections in the content
// cache, structures in the store with their small parts in the cache.

// fetchSections fetches one section of a window's messages in one UID
// FETCH, caching each message's bytes (decoded, for a part) as they come.
func (p *prefetcher) fetchSections(ctx context.Context, w *window) error {
	uids := make([]imap.UID, len(w.infos))
	for i, info := range w.infos {
		uids[i] = info.UID
	}
	section, path := w.kind, []int(nil)
	switch w.kind {
	case fileMessage:
		section = "" // BODY[]
	case sectionHeader, sectionText:
	default:
		path = sectionPath(w.kind)
	}
	return p.fsys.backend.FetchSections(ctx, w.mailbox, w.uidValidity, uids, section, path, func(uid imap.UID, raw []byte) {
		if _, ok := w.done[uid]; !ok {
			return
		}
		data := raw
		if w.kind == sectionText {
			p.cutFromText(w, uid, raw)
		}
		if part, ok := w.parts[uid]; ok {
			data = imapbackend.DecodePart(part, raw)
			if e := p.store.peek(w.key(uid).withKind(kindStructure)); e != nil {
				e.sizes.Store(part.Section, int64(len(data)))
			}
		}
		p.fsys.cache.Add(cache.Key{Mailbox: w.mailbox, UIDValidity: w.uidValidity, UID: uint32(uid), Section: w.kind}, data)
		p.release(w, uid, nil)
		if w.partsOf != nil {
			p.release(w.partsOf, uid, nil)
		}
	})
}

// cutFromText keeps the parts of a multipart message found in its TEXT,
// just fetched by a window: a reader of every file (grep -r) reads TEXT
// first, and the windows of its parts then skip what is cached, so that
// an attachment crosses the link once rather than twice. A TEXT that came
// before its structure is cut when a part window needs it (resolveParts).
func (p *prefetcher) cutFromText(w *window, uid imap.UID, text []byte) {
	if e := p.store.peek(w.key(uid).withKind(kindStructure)); e != nil {
		p.keepParts(w.mailbox, w.uidValidity, e, text)
	}
}

// cutCachedText keeps the parts of a message whose TEXT is cached, if it
// is (see keepParts).
func (p *prefetcher) cutCachedText(mailbox string, uidValidity uint32, e *structEntry) {
	key := cache.Key{Mailbox: mailbox, UIDValidity: uidValidity, UID: uint32(e.st.UID), Section: sectionText}
	if text, ok := p.fsys.cache.Get(key); ok {
		p.keepParts(mailbox, uidValidity, e, text)
	}
}

// keepParts caches the parts CutParts finds in a message's TEXT, decoded,
// with their sizes: the one place parts are cut, whichever way the TEXT
// came (with the structure, in a TEXT window, or cached before).
func (p *prefetcher) keepParts(mailbox string, uidValidity uint32, e *structEntry, text []byte) {
	for section, raw := range imapbackend.CutParts(e.st, text) {
		part := partOf(e.st, section)
		if part == nil {
			continue
		}
		if isText(e.st, section) {
			e.sizes.Store(section, int64(len(raw))) // served from the TEXT (derive)
			continue
		}
		data := decodeCut(*part, raw)
		e.sizes.Store(section, int64(len(data)))
		p.fsys.cache.Add(cache.Key{Mailbox: mailbox, UIDValidity: uidValidity, UID: uint32(e.st.UID), Section: section}, data)
	}
}

// decodeCut decodes a part cut from a TEXT. A part that needs no decoding
// would share the TEXT's memory and keep all of it alive, unaccounted,
// after the cache let the TEXT go: it gets bytes of its own.
func decodeCut(part imapbackend.Part, raw []byte) []byte {
	switch part.Encoding {
	case "base64", "quoted-printable":
	default:
		raw = bytes.Clone(raw)
	}
	return imapbackend.DecodePart(part, raw)
}

func (k itemKey) withKind(kind string) itemKey { k.kind = kind; return k }

// sectionPath turns "1.2" into []int{1, 2}.
func sectionPath(section string) []int {
	var path []int
	for _, s := range strings.Split(section, ".") {
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil
		}
		path = append(path, n)
	}
	return path
}

// fetchStructures fetches the structures of several messages, in chunks
// of windowChunk, each with its small parts and probes of the others (see
// smallParts), and keeps them: headers and parts in the
// content cache, structures in the store. kept hears of the messages of
// each chunk once they are kept. A message the server did not return is
// absent from the result.
func (p *prefetcher) fetchStructures(ctx context.Context, mailbox string, uidValidity uint32, infos []imapbackend.MessageInfo, kept func([]imap.UID)) (map[imap.UID]*structEntry, error) {
	f := p.fsys
	var chunks [][]imap.UID
	for start := 0; start < len(infos); start += windowChunk {
		var uids []imap.UID
		for _, info := range infos[start:min(start+windowChunk, len(infos))] {
			uids = append(uids, info.UID)
		}
		chunks = append(chunks, uids)
	}
	key := func(uid imap.UID, section string) cache.Key {
		return cache.Key{Mailbox: mailbox, UIDValidity: uidValidity, UID: uint32(uid), Section: section}
	}
	sizes := make(map[imap.UID]int64, len(infos))
	for _, info := range infos {
		sizes[info.UID] = info.Size
	}
	// A small message's TEXT comes with its structure, in the same round
	// trip: its parts are cut from it (CutParts), and nothing more is
	// asked of it.
	withText := func(uid imap.UID) bool {
		n, ok := sizes[uid]
		return ok && n <= smallPart && !f.cache.Contains(key(uid, sectionText))
	}
	choose := func(st *imapbackend.Structure) imapbackend.PartsRequest {
		if withText(st.UID) || st.ClaimsMultipart() {
			return imapbackend.PartsRequest{} // the server's sections are not the parts (ownStructure)
		}
		small, probed := smallParts(st, func(section string) bool {
			return f.hasPart(mailbox, uidValidity, st, st.UID, section)
		})
		return imapbackend.PartsRequest{Parts: small, Probed: probed}
	}
	out := make(map[imap.UID]*structEntry, len(infos))
	keep := func(uid imap.UID, st *imapbackend.Structure, res imapbackend.PartsResult, got bool) {
		e := &structEntry{st: st}
		// The header came with the structure: `cat HEADER` costs nothing more.
		f.cache.Add(key(uid, sectionHeader), st.Header)
		// Parts that did not come are fetched when read; their
		// sizes come from their probes, BODYSTRUCTURE, or a fetch
		// when looked up (SectionFile.exactSize).
		if got {
			if res.Text != nil {
				f.cache.Add(key(uid, sectionText), res.Text)
				p.keepParts(mailbox, uidValidity, e, res.Text)
			}
			for section, raw := range res.Raw {
				part := partOf(st, section)
				if part == nil || part.Parsed {
					continue
				}
				data := imapbackend.DecodePart(*part, raw)
				e.sizes.Store(section, int64(len(data)))
				if isWholeText(st, *part, raw) {
					f.cache.Add(key(uid, sectionText), raw)
					if isText(st, section) {
						continue // served from the TEXT (derive)
					}
				}
				f.cache.Add(key(uid, section), data)
			}
			for section, probe := range res.Probes {
				if part := partOf(st, section); part != nil && !part.Parsed {
					if n, ok := base64Size(part.Size, probe); ok {
						e.sizes.Store(section, n)
					}
				}
			}
		}
		p.store.add(itemKey{mailbox: mailbox, uidValidity: uidValidity, uid: uid, kind: kindStructure}, e)
		out[uid] = e
	}
	// Messages whose header says multipart where the server's structure
	// says text/plain, and whose TEXT did not come with the structure:
	// kept once their TEXT is here (ownStructure).
	later := make(map[imap.UID]*imapbackend.Structure)
	err := f.backend.StructureChunks(ctx, mailbox, uidValidity, chunks, withText, choose, func(sts map[imap.UID]*imapbackend.Structure, parts map[imap.UID]imapbackend.PartsResult) {
		uids := make([]imap.UID, 0, len(sts))
		for uid, st := range sts {
			res, got := parts[uid]
			if st.ClaimsMultipart() {
				text := res.Text
				if text == nil {
					text, _ = f.cache.Get(key(uid, sectionText))
				}
				if text == nil && p.ownStructureFits(st) {
					later[uid] = st
					continue
				}
				st = p.ownStructure(st, text)
			}
			delete(later, uid) // a chunk heard of twice (a retry)
			keep(uid, st, res, got)
			uids = append(uids, uid)
		}
		if kept != nil {
			kept(uids)
		}
	})
	if err != nil {
		return nil, err
	}
	if len(later) == 0 {
		return out, nil
	}
	// Their TEXTs in one command; a message expunged since is absent, as
	// if the server had not returned its structure.
	err = f.backend.FetchSections(ctx, mailbox, uidValidity, slices.Sorted(maps.Keys(later)), sectionText, nil, func(uid imap.UID, text []byte) {
		st := later[uid]
		if st == nil {
			return // heard twice (a retry)
		}
		delete(later, uid)
		keep(uid, p.ownStructure(st, text), imapbackend.PartsResult{Text: text}, true)
		if kept != nil {
			kept([]imap.UID{uid})
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ownStructureFits bounds the messages whose structure the mount works
// out itself: their TEXT is fetched whole and kept in the cache with its
// decoded parts, at most as large again, which the cache must hold.
func (p *prefetcher) ownStructureFits(st *imapbackend.Structure) bool {
	return st.Size <= p.fsys.cache.Budget()/2
}

// ownStructure is the structure of a message whose header says
// multipart while the server said text/plain (a strict RFC 2045 server
// reads a message without MIME-Version so), worked out from its TEXT; the
// server's when text is nil (too large to fetch whole) or does not parse.
func (p *prefetcher) ownStructure(st *imapbackend.Structure, text []byte) *imapbackend.Structure {
	if text != nil {
		if own, ok := imapbackend.ParseStructure(st, text); ok {
			return own
		}
	}
	if !p.ownLogged.Swap(true) {
		why := "its TEXT does not hold them"
		if text == nil {
			why = "it is larger than half the cache"
		}
		p.fsys.logger.Printf("message %d: the header says multipart, the server's structure text/plain, and its parts are not worked out: %s; shown as one part (later ones are not logged)", st.UID, why)
	}
	return st
}

// isWholeText reports whether the raw bytes of part are also the
// message's TEXT: the body of a message that is not multipart is its part
// 1 (RFC 3501, 6.4.5), so grep -r, which reads both, needs one fetch. The
// size check guards against a server that numbers otherwise.
func isWholeText(st *imapbackend.Structure, part imapbackend.Part, raw []byte) bool {
	_, single := st.Body.(*imap.BodyStructureSinglePart)
	return single && len(st.Parts) == 1 && part.Section == "1" && int64(len(raw)) == st.TextSize()
}

// smallParts chooses what comes with a message's structure: every part
// that is small (within a budget per message), so that its size is exact
// from the first stat (a size that changes when the file is first read
// confuses cp, rsync and fstest alike) and grep -r over it costs no round
// trip per file; and a probe of each larger base64 part whose bytes are
// not converted, from which its decoded size is worked out (base64Size).
// A server's BINARY.SIZE is never asked: Dovecot 2.3.19 answers it wrongly
// for parts that are not last. Parts already cached are left out.
func smallParts(st *imapbackend.Structure, cached func(section string) bool) (small, probed []imapbackend.Part) {
	budget := int64(smallPartsBudget)
	for _, p := range st.Parts {
		if cached(p.Section) {
			continue
		}
		if p.Size <= smallPart && p.Size <= budget {
			small = append(small, p)
			budget -= p.Size
		} else if p.Encoding == "base64" && !convertsCharset(p) && p.Size > 2*imapbackend.ProbeSize {
			probed = append(probed, p)
		}
	}
	return small, probed
}

// structure returns a message's structure entry: read ahead, in flight in
// a window, or fetched alone (with its small parts, as a window of one).
func (p *prefetcher) structure(ctx context.Context, mailbox string, uidValidity uint32, info imapbackend.MessageInfo) (*structEntry, error) {
	k := itemKey{mailbox: mailbox, uidValidity: uidValidity, uid: info.UID, kind: kindStructure}
	p.note(ctx, mailbox, uidValidity, kindStructure, info.UID)
	if e := p.store.get(k); e != nil {
		return e, nil
	}
	if err := p.wait(ctx, k); err != nil {
		return nil, err
	}
	if e := p.store.get(k); e != nil {
		return e, nil
	}
	flightKey := fmt.Sprintf("%s\x00%d\x00%d", mailbox, uidValidity, info.UID)
	return p.fsys.structs.do(flightKey, func() (*structEntry, error) {
		if e := p.store.get(k); e != nil {
			return e, nil
		}
		got, err := p.fetchStructures(prefetchContext(ctx), mailbox, uidValidity, []imapbackend.MessageInfo{info}, nil)
		if err != nil {
			return nil, err
		}
		if e := got[info.UID]; e != nil {
			return e, nil
		}
		return nil, fmt.Errorf("fetch message %d of %q: %w", info.UID, mailbox, imapbackend.ErrNoMessage)
	})
}
