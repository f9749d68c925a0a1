package fs

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-imap/v2"

	"github.com/imapfs/imapfs/cache"
	"github.com/imapfs/imapfs/imapbackend"
)

// windowPartMax is the largest part (encoded size) read ahead in a window;
// larger parts are fetched when opened, on their own.
const windowPartMax = 1 << 20

// prefetcher fetches windows of messages ahead of a reader (see
// readAhead) and lets a reader that asks for a message of a window in
// flight wait for that window rather than fetch the message alone.
type prefetcher struct {
	fsys   *FS
	detect readAhead
	store  *structStore
	budget int64 // bytes one window may bring

	mu       sync.Mutex
	inflight map[itemKey]*pending

	logged    atomic.Bool // a background failure was logged: later ones are not
	ownLogged atomic.Bool // a structure that could not be worked out (ownStructure) was logged

	jobsMu sync.Mutex
	jobs   int        // windows being fetched
	idle   *sync.Cond // broadcast when jobs drops to 0
}

func newPrefetcher(f *FS) *prefetcher {
	p := &prefetcher{
		fsys:     f,
		store:    newStructStore(max(f.cache.Budget()/windowBudgetShare, 1<<20)),
		budget:   max(f.cache.Budget()/windowBudgetShare, 256<<10),
		inflight: make(map[itemKey]*pending),
	}
	p.idle = sync.NewCond(&p.jobsMu)
	return p
}

// WaitReadAhead returns once no read-ahead is being fetched. Read-ahead
// runs in the background, after the read that started it has returned:
// tests and benchmarks that count commands wait for it, so that they
// count what they meant to.
func (f *FS) WaitReadAhead() {
	p := f.prefetch
	p.jobsMu.Lock()
	for p.jobs > 0 {
		p.idle.Wait()
	}
	p.jobsMu.Unlock()
}

// start fetches the chunks of a window in the background, in order,
// counted for WaitReadAhead.
func (p *prefetcher) start(ctx context.Context, chunks []*window) {
	p.jobsMu.Lock()
	p.jobs++
	p.jobsMu.Unlock()
	go func() {
		defer func() {
			p.jobsMu.Lock()
			if p.jobs--; p.jobs == 0 {
				p.idle.Broadcast()
			}
			p.jobsMu.Unlock()
		}()
		for _, w := range chunks {
			p.run(ctx, w)
		}
	}()
}

// window is one read-ahead fetch: one kind for several messages.
type window struct {
	mailbox     string
	uidValidity uint32
	kind        string
	infos       []imapbackend.MessageInfo
	parts       map[imap.UID]imapbackend.Part // the part of each message, for a part kind
	done        map[imap.UID]*pending
	// partsOf is the part window whose parts this TEXT window fetches as
	// TEXT (resolveParts): each TEXT that arrives lets go of its part too.
	partsOf *window
}

// pending is one message of a window in flight: done is closed when it
// has arrived or the window gave up on it, with err set.
type pending struct {
	done chan struct{}
	err  error
}

func (w *window) key(uid imap.UID) itemKey {
	return itemKey{mailbox: w.mailbox, uidValidity: w.uidValidity, uid: uid, kind: w.kind}
}

// verdict is what a window does with one message.
type verdict int

const (
	take verdict = iota // fetch it
	skip                // cached, in flight, or without the section
	stop                // unknown yet (no structure for a part): end the window here
)

// need tells whether kind of one message is worth reading ahead, and its
// estimated size in bytes.
func (p *prefetcher) need(mailbox string, uidValidity uint32, kind string, info imapbackend.MessageInfo) (int64, *imapbackend.Part, verdict) {
	k := itemKey{mailbox: mailbox, uidValidity: uidValidity, uid: info.UID, kind: kind}
	if p.inFlight(k) {
		return 0, nil, skip
	}
	ck := cache.Key{Mailbox: mailbox, UIDValidity: uidValidity, UID: uint32(info.UID), Section: kind}
	cached := func(section string) bool { ck.Section = section; return p.fsys.cache.Contains(ck) }
	switch kind {
	case kindStructure:
		if p.store.has(k) {
			return 0, nil, skip
		}
		return min(info.Size, smallPartsBudget+16<<10), nil, take
	case sectionHeader:
		// The header comes with the structure: read ahead on its own only
		// where the structure is known and the header was evicted since.
		if cached(kind) {
			return 0, nil, skip
		}
		if !p.store.has(k.withKind(kindStructure)) {
			return 0, nil, stop
		}
		return min(info.Size, 16<<10), nil, take
	case sectionText:
		// A small message's TEXT comes with its structure (see
		// fetchStructures), which a reader of TEXT asks for first.
		if cached(kind) || info.Size <= smallPart {
			return 0, nil, skip
		}
		return info.Size, nil, take
	case fileMessage:
		if cached(kind) || cached(sectionHeader) && cached(sectionText) {
			return 0, nil, skip
		}
		return info.Size, nil, take
	}
	e := p.store.peek(k.withKind(kindStructure))
	if e == nil {
		if p.inFlight(k.withKind(kindStructure)) {
			// Its structure is on its way: take it, and see once the
			// structure is here whether it has the part (see run).
			return min(info.Size, windowPartMax), nil, take
		}
		return 0, nil, stop
	}
	part := partOf(e.st, kind)
	if part == nil || part.Size > windowPartMax || p.fsys.hasPart(mailbox, uidValidity, e.st, info.UID, kind) {
		return 0, nil, skip
	}
	return part.Size, part, take
}

// partOf finds a part of st by section number.
func partOf(st *imapbackend.Structure, section string) *imapbackend.Part {
	for i := range st.Parts {
		if st.Parts[i].Section == section {
			return &st.Parts[i]
		}
	}
	return nil
}

func (p *prefetcher) inFlight(k itemKey) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.inflight[k]
	return ok
}

// note tells the detector that a reader asks for kind of message uid, and
// starts the windows it decides on, in the background.
func (p *prefetcher) note(ctx context.Context, mailbox string, uidValidity uint32, kind string, uid imap.UID) {
	f := p.fsys
	f.mu.Lock()
	snap := f.snaps[mailbox]
	f.mu.Unlock()
	if snap == nil || snap.UIDValidity != uidValidity {
		return
	}
	var windows []*window
	needed := func(info imapbackend.MessageInfo) bool {
		_, _, v := p.need(mailbox, uidValidity, kind, info)
		return v == take
	}
	p.detect.note(snap, kind, uid, needed, func(sp span) int {
		w, end := p.fill(sp, kind)
		if w != nil {
			windows = append(windows, w)
		}
		return end
	})
	for _, w := range windows {
		chunks := []*window{w}
		if w.isPart() {
			chunks = w.split(windowChunk)
		}
		p.start(prefetchContext(ctx), chunks)
	}
}

// windowChunk is the most messages one UID FETCH of a window asks for.
// A larger window is fetched in chunks, one after the other (chunks
// fetched at once over several connections finish in no particular
// order, and the first is then as late as the last), each kept as soon as
// it is here, so that the reader, who needs the first messages first,
// waits for one chunk and not for the window. Structures are fetched in
// pipelined chunks (StructureChunks); sections need no chunks, since each
// message is kept as it arrives; part windows go in chunks so that each
// waits for the structures of its own messages only (resolveParts).
const windowChunk = 128

func (w *window) isPart() bool {
	switch w.kind {
	case kindStructure, sectionHeader, sectionText, fileMessage:
		return false
	}
	return true
}

// split cuts a window into chunks of at most n messages.
func (w *window) split(n int) []*window {
	if len(w.infos) <= n {
		return []*window{w}
	}
	var chunks []*window
	for start := 0; start < len(w.infos); start += n {
		c := &window{mailbox: w.mailbox, uidValidity: w.uidValidity, kind: w.kind,
			infos: w.infos[start:min(start+n, len(w.infos))], done: make(map[imap.UID]*pending)}
		for _, info := range c.infos {
			c.done[info.UID] = w.done[info.UID]
			if part, ok := w.parts[info.UID]; ok {
				if c.parts == nil {
					c.parts = make(map[imap.UID]imapbackend.Part)
				}
				c.parts[info.UID] = part
			}
		}
		chunks = append(chunks, c)
	}
	return chunks
}

// fill makes a window from a span: up to sp.limit messages that need
// fetching, within the byte budget, each registered as in flight. It
// returns the window (nil if it took nothing) and the position it
// reached.
func (p *prefetcher) fill(sp span, kind string) (*window, int) {
	w := &window{mailbox: sp.snap.Mailbox, uidValidity: sp.snap.UIDValidity, kind: kind, done: make(map[imap.UID]*pending)}
	var bytes int64
	n := len(sp.snap.Messages)
	pos := sp.start
	for scanned := 0; pos < n && len(w.infos) < sp.limit && scanned < 4*sp.limit+maxGap; pos, scanned = pos+1, scanned+1 {
		info := sp.snap.Messages[sp.ord.at(pos)]
		cost, part, v := p.need(w.mailbox, w.uidValidity, kind, info)
		if v == stop {
			break
		}
		if v == skip || cost > p.budget {
			continue
		}
		if bytes+cost > p.budget {
			break
		}
		item := p.claim(w.key(info.UID))
		if item == nil {
			continue // taken by another window since need looked
		}
		bytes += cost
		w.done[info.UID] = item
		w.infos = append(w.infos, info)
		if part != nil {
			if w.parts == nil {
				w.parts = make(map[imap.UID]imapbackend.Part)
			}
			w.parts[info.UID] = *part
		}
	}
	if len(w.infos) == 0 {
		return nil, pos
	}
	return w, pos
}

// run fetches a window. Its failure is not any reader's: the readers
// waiting for it fetch their message alone, and see their own error if
// that fails too.
func (p *prefetcher) run(ctx context.Context, w *window) {
	// A window holds a connection for its whole transfer: windows share
	// the slots of streaming's read-ahead, one fewer than the connections,
	// so that a read nobody fetched ahead, or an ls elsewhere, finds one.
	// A part window takes its slot only once its structures are here: it
	// must not hold one while a structure window waits for it.
	withSlot := func(fetch func() error) error {
		if err := p.fsys.windows.acquire(ctx, p.fsys); err != nil {
			return err
		}
		defer p.fsys.windows.release()
		return fetch()
	}
	var err error
	switch w.kind {
	case kindStructure:
		err = withSlot(func() error {
			_, err := p.fetchStructures(ctx, w.mailbox, w.uidValidity, w.infos, func(uids []imap.UID) {
				for _, uid := range uids {
					p.release(w, uid, nil)
				}
			})
			return err
		})
	case sectionHeader, sectionText, fileMessage:
		err = withSlot(func() error { return p.fetchSections(ctx, w) })
	default:
		var text *window
		text, err = p.resolveParts(ctx, w)
		if err == nil && text != nil {
			err = withSlot(func() error { return p.fetchSections(ctx, text) })
			for uid := range text.done {
				p.release(text, uid, err)
			}
		}
		if err == nil && len(w.infos) > 0 {
			err = withSlot(func() error { return p.fetchSections(ctx, w) })
		}
	}
	for uid := range w.done {
		p.release(w, uid, err)
	}
	if err != nil && !p.logged.Swap(true) {
		p.fsys.logger.Printf("read-ahead in %q failed (later failures are not logged): %v", w.mailbox, err)
	}
}

// resolveParts finds the part of each message of a part window that was
// taken while its structure was in flight, once the structure is here,
// and lets go of the messages without a part to fetch, and of those whose
// part came cut from a TEXT fetched meanwhile. A part that is most of its
// message's TEXT is fetched as that TEXT instead, in the companion window
// it returns (nil if none): a reader of TEXT and the parts (grep -r) then
// has the attachment cross the link once, whichever it reads first, and a
// reader of the parts alone pays at most twice the part.
func (p *prefetcher) resolveParts(ctx context.Context, w *window) (*window, error) {
	var text *window
	infos := w.infos[:0:0]
	for _, info := range w.infos {
		sk := w.key(info.UID).withKind(kindStructure)
		if err := p.wait(ctx, sk); err != nil {
			return nil, err
		}
		e := p.store.peek(sk)
		var part *imapbackend.Part
		if e != nil {
			part = partOf(e.st, w.kind)
		} else if known, ok := w.parts[info.UID]; ok {
			part = &known // the structure was dropped from the store since
		}
		// A TEXT on its way holds the part (cutFromText).
		textItem := w.key(info.UID).withKind(sectionText)
		if part != nil && p.inFlight(textItem) {
			if err := p.wait(ctx, textItem); err != nil {
				return nil, err
			}
		}
		textKey := cache.Key{Mailbox: w.mailbox, UIDValidity: w.uidValidity, UID: uint32(info.UID), Section: sectionText}
		var st *imapbackend.Structure
		if e != nil {
			st = e.st
		}
		partCached := func() bool { return p.fsys.hasPart(w.mailbox, w.uidValidity, st, info.UID, w.kind) }
		if e != nil && part != nil && !partCached() {
			p.cutCachedText(w.mailbox, w.uidValidity, e) // the TEXT came first
		}
		if part == nil || part.Size > windowPartMax || partCached() {
			p.release(w, info.UID, nil)
			continue
		}
		// A part of a structure worked out here (ParseStructure) only
		// ever comes cut from the TEXT: the server numbers its sections
		// otherwise.
		if e != nil && (part.Parsed || 2*part.Size >= e.st.TextSize()) && e.st.TextSize() <= windowPartMax && !p.fsys.cache.Contains(textKey) {
			if item := p.claim(textItem); item != nil {
				if text == nil {
					text = &window{mailbox: w.mailbox, uidValidity: w.uidValidity, kind: sectionText,
						done: make(map[imap.UID]*pending), partsOf: w}
				}
				text.infos = append(text.infos, info)
				text.done[info.UID] = item
				continue
			}
		}
		if part.Parsed {
			p.release(w, info.UID, nil) // its reader cuts it (cutFromFetchedText)
			continue
		}
		infos = append(infos, info)
		if w.parts == nil {
			w.parts = make(map[imap.UID]imapbackend.Part)
		}
		w.parts[info.UID] = *part
	}
	w.infos = infos
	return text, nil
}

// claim registers k as in flight and returns its item, or nil when it is
// in flight already.
func (p *prefetcher) claim(k itemKey) *pending {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.inflight[k]; ok {
		return nil
	}
	item := &pending{done: make(chan struct{})}
	p.inflight[k] = item
	return item
}

// release marks one message of a window as arrived, or given up with
// err. Only the window's own goroutine calls it.
func (p *prefetcher) release(w *window, uid imap.UID, err error) {
	item := w.done[uid]
	if item == nil {
		return
	}
	select {
	case <-item.done:
		return // arrived already
	default:
	}
	p.mu.Lock()
	if p.inflight[w.key(uid)] == item {
		delete(p.inflight, w.key(uid))
	}
	p.mu.Unlock()
	item.err = err
	close(item.done)
}

// wait waits until a window in flight has brought k, if one is fetching
// it. It returns the window's error only when the server did not answer
// in time: the caller then fails at once instead of waiting as long
// again for the same server alone. On any other failure the caller
// fetches alone and sees its own error, if any.
func (p *prefetcher) wait(ctx context.Context, k itemKey) error {
	p.mu.Lock()
	item := p.inflight[k]
	p.mu.Unlock()
	if item == nil {
		return nil
	}
	select {
	case <-item.done:
		if errors.Is(item.err, imapbackend.ErrTimeout) {
			return item.err
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *prefetcher) dropMailbox(mailbox string) { p.store.dropMailbox(mailbox) }

func (p *prefetcher) purge() { p.store.purge() }
