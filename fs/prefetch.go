package fs

import (
	"context"
	"sort"
	"sync"

	"github.com/emersion/go-imap/v2"

	"github.com/imapfs/imapfs/imapbackend"
)

// Read-ahead across messages. A reader that goes through a folder's
// message directories one after the other (grep -r, find -exec cat, cat
// */HEADER, ls -l */) asks for the same thing of each message in turn: its
// structure, or one section. Fetched one message at a time that is a round
// trip or two per message; read ahead, it is a few UID FETCH commands for
// the whole folder. The detector below watches, per mailbox and kind (the
// structure, or a section name), where in the folder each access falls;
// when an access follows the previous one, it fetches that kind for the
// next messages in one window, which grows with every window, and starts
// the next window once the reader is a quarter into the current one, so
// that the fetch overlaps the reading. Random access stays one message at
// a time: `cat 4711/TEXT` fetches 4711 alone. (The first message of an
// order is taken for the start of a walk and read ahead at once.)
//
// "Follows" is in one of two orders: UID order, which is readdir's (grep
// -r, find), and the order of the names as strings, which is the shell's
// and ls's (cat */HEADER reads 1, 10, 100, 101, ...).

const (
	// kindStructure is the kind of a message's structure (with its header
	// and small parts); other kinds are section names.
	kindStructure = "\x00structure"

	firstWindow = 32  // messages in the first window of a walk
	maxWindow   = 512 // and in the largest
	// windowGrowth is how much larger each window of a walk is than the
	// one before: a folder of n messages takes about log4(n/8) windows.
	windowGrowth = 4
	// aheadShare is how far into a window (one part in aheadShare) the
	// reader gets before the next window is asked for.
	aheadShare = 4
	// maxGap and maxSkip bound what still counts as the next access: at
	// most maxGap positions further, skipping at most maxSkip messages
	// that would have needed a fetch (messages without the section, or
	// with it cached, do not count).
	maxGap  = 64
	maxSkip = 4
	// windowBudgetShare is the part of the cache budget one window may
	// fill: two windows of a walk may be in flight, and what they bring
	// must still be in the cache when the reader gets there.
	windowBudgetShare = 8
	// maxWalks bounds the detector's memory; past it, all walks are
	// forgotten (they are rebuilt in two accesses).
	maxWalks = 256
)

// readAhead is the detector: one walk per mailbox, kind and order.
type readAhead struct {
	mu    sync.Mutex
	walks map[walkKey]*walk
	lex   map[string]*lexOrder // by mailbox, for the snapshot last seen
}

type walkKey struct {
	mailbox, kind string
	lexical       bool
}

// walk follows one reader through a snapshot's messages, by position in
// its order.
type walk struct {
	snap   snapID
	last   int // position of the latest access
	issued int // positions below it have been fetched or are in flight
	// winStart and winEnd are the positions the latest window covered.
	winStart, winEnd int
	size             int // messages in the next window
	run              int // accesses that followed one another
}

// snapID tells snapshots apart without holding them: a snapshot renewed
// by STATUS shares its message slice with the one it replaces.
type snapID struct {
	first       *imapbackend.MessageInfo
	n           int
	uidValidity uint32
}

func idOf(s *imapbackend.Snapshot) snapID {
	if len(s.Messages) == 0 {
		return snapID{uidValidity: s.UIDValidity}
	}
	return snapID{first: &s.Messages[0], n: len(s.Messages), uidValidity: s.UIDValidity}
}

// order maps positions in a reading order to indexes in a snapshot.
type order interface {
	at(pos int) int      // the snapshot index at pos
	posOf(index int) int // the position of a snapshot index
}

type uidOrder struct{}

func (uidOrder) at(pos int) int      { return pos }
func (uidOrder) posOf(index int) int { return index }

// lexOrder is the snapshot's messages sorted by their names as strings.
type lexOrder struct {
	snap  snapID
	byPos []int32 // snapshot index at each position
	pos   []int32 // position of each snapshot index
}

func (o *lexOrder) at(pos int) int      { return int(o.byPos[pos]) }
func (o *lexOrder) posOf(index int) int { return int(o.pos[index]) }

func newLexOrder(s *imapbackend.Snapshot) *lexOrder {
	n := len(s.Messages)
	o := &lexOrder{snap: idOf(s), byPos: make([]int32, n), pos: make([]int32, n)}
	for i := range o.byPos {
		o.byPos[i] = int32(i)
	}
	sort.Slice(o.byPos, func(a, b int) bool {
		return nameLess(uint32(s.Messages[o.byPos[a]].UID), uint32(s.Messages[o.byPos[b]].UID))
	})
	for p, i := range o.byPos {
		o.pos[i] = int32(p)
	}
	return o
}

// nameLess compares the decimal names of two UIDs as strings, without
// making the strings: "10" < "2", "1" < "10".
func nameLess(a, b uint32) bool {
	da, db := digits(a), digits(b)
	switch {
	case da == db:
		return a < b
	case da < db:
		cut := uint32(pow10[db-da])
		return a <= b/cut // equal: a is a prefix of b
	default:
		cut := uint32(pow10[da-db])
		return a/cut < b
	}
}

var pow10 = [...]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10}

func digits(v uint32) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

// span is a window the detector decided on: positions from start on, in
// ord, of snapshot snap.
type span struct {
	snap  *imapbackend.Snapshot
	ord   order
	start int
	// limit bounds how many messages the window may take.
	limit int
}

// note records that the reader asked for kind of the message uid of
// mailbox, and returns the windows to fetch now (none for a random
// access). take fills a window from a span: it is called with the
// detector's lock held and returns the position the window reached.
func (r *readAhead) note(snap *imapbackend.Snapshot, kind string, uid imap.UID, needed func(info imapbackend.MessageInfo) bool, take func(span) int) {
	index := sort.Search(len(snap.Messages), func(i int) bool { return snap.Messages[i].UID >= uid })
	if index == len(snap.Messages) || snap.Messages[index].UID != uid {
		return // not in the snapshot: nothing to read ahead of
	}
	id := idOf(snap)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.walks == nil || len(r.walks) > maxWalks {
		r.walks = make(map[walkKey]*walk)
		r.lex = make(map[string]*lexOrder)
	}
	// Both orders agree over stretches (100, 101, ... 109), so both may
	// follow an access; the one followed longer reads ahead, the other
	// only keeps track.
	var best *walk
	var bestOrd order
	bestPos := 0
	for _, lexical := range []bool{false, true} {
		var ord order = uidOrder{}
		if lexical {
			lo := r.lex[snap.Mailbox]
			if lo == nil || lo.snap != id {
				lo = newLexOrder(snap)
				r.lex[snap.Mailbox] = lo
			}
			ord = lo
		}
		pos := ord.posOf(index)
		key := walkKey{mailbox: snap.Mailbox, kind: kind, lexical: lexical}
		s := r.walks[key]
		switch {
		case s == nil || s.snap != id || !s.follows(pos, snap, ord, needed):
			s = &walk{snap: id, last: pos, issued: pos, size: firstWindow}
			r.walks[key] = s
			if pos != 0 {
				continue // one access is no direction yet
			}
			// The first message in this order: most likely the start of
			// a walk (grep -r, cat */HEADER), so read ahead at once.
		case pos == s.last:
			continue
		default:
			s.last = pos
			s.run++
		}
		if best == nil || s.run > best.run {
			best, bestOrd, bestPos = s, ord, pos
		}
	}
	if best == nil {
		return
	}
	s, pos := best, bestPos
	from := -1
	switch {
	case pos >= s.issued:
		from = pos // the reader is past what was asked for
	case pos >= s.winStart+(s.winEnd-s.winStart)/aheadShare && s.issued < len(snap.Messages):
		// A quarter into the window: ask for the next one now, so that
		// it is here when the reader gets there.
		from = s.issued
	}
	if from < 0 {
		return
	}
	end := take(span{snap: snap, ord: bestOrd, start: from, limit: s.size})
	s.winStart, s.winEnd, s.issued = from, end, end
	s.size = min(windowGrowth*s.size, maxWindow)
}

// follows reports whether an access at pos continues the walk: at or a
// little after its latest access.
func (s *walk) follows(pos int, snap *imapbackend.Snapshot, ord order, needed func(imapbackend.MessageInfo) bool) bool {
	if pos < s.last || pos > s.last+maxGap {
		return false
	}
	skipped := 0
	for p := s.last + 1; p < pos; p++ {
		if needed(snap.Messages[ord.at(p)]) {
			skipped++
		}
	}
	return skipped <= maxSkip
}

// prefetchContext is the context of a fetch that a reader started and
// others may wait for: the reader giving up must not fail them, and the
// backend bounds every operation with its own timeout.
func prefetchContext(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }
