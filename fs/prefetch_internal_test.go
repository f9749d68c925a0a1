package fs

import (
	"strconv"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/imapfs/imapfs/imapbackend"
)

func TestNameLessIsStringOrder(t *testing.T) {
	values := []uint32{1, 2, 9, 10, 11, 19, 20, 99, 100, 101, 109, 110, 190, 199, 200, 1000, 4294967295, 429496729}
	for _, a := range values {
		for _, b := range values {
			want := strconv.FormatUint(uint64(a), 10) < strconv.FormatUint(uint64(b), 10)
			if got := nameLess(a, b); got != want {
				t.Errorf("nameLess(%d, %d) = %v, want %v", a, b, got, want)
			}
		}
	}
}

func testSnapshot(n int) *imapbackend.Snapshot {
	s := &imapbackend.Snapshot{Mailbox: "INBOX", UIDValidity: 7}
	for i := 1; i <= n; i++ {
		s.Messages = append(s.Messages, imapbackend.MessageInfo{UID: imap.UID(i), Size: 1000})
	}
	return s
}

// windows replays accesses to the detector and returns the windows it
// asked for, as first and last UID, taking every message it is offered.
func windows(snap *imapbackend.Snapshot, accesses []imap.UID) [][2]imap.UID {
	var r readAhead
	var got [][2]imap.UID
	taken := map[imap.UID]bool{}
	for _, uid := range accesses {
		r.note(snap, kindStructure, uid, func(imapbackend.MessageInfo) bool { return true }, func(sp span) int {
			pos, first, last := sp.start, imap.UID(0), imap.UID(0)
			for n := 0; pos < len(snap.Messages) && n < sp.limit; pos++ {
				uid := snap.Messages[sp.ord.at(pos)].UID
				if taken[uid] {
					continue
				}
				taken[uid] = true
				if first == 0 {
					first = uid
				}
				last = uid
				n++
			}
			got = append(got, [2]imap.UID{first, last})
			return pos
		})
	}
	return got
}

func TestDetectorReadsAheadOfWalks(t *testing.T) {
	snap := testSnapshot(1000)
	var walk []imap.UID
	for uid := imap.UID(1); uid <= 1000; uid++ {
		walk = append(walk, uid)
	}
	got := windows(snap, walk)
	t.Logf("UID order: %v", got)
	if len(got) == 0 || got[0] != [2]imap.UID{1, firstWindow} {
		t.Fatalf("walk in UID order: windows %v, want the first to be 1..%d", got, firstWindow)
	}
	if len(got) > 8 {
		t.Errorf("walk of 1000 messages: %d windows %v, want a growing few", len(got), got)
	}
	if last := got[len(got)-1]; last[1] != 1000 {
		t.Errorf("walk of 1000 messages: windows %v do not reach 1000", got)
	}

	// The shell's order: 1, 10, 100, 1000, 101, ...
	lex := append([]imap.UID(nil), walk...)
	sortByName(lex)
	gotLex := windows(snap, lex)
	t.Logf("name order: %v", gotLex)
	if got := gotLex; len(got) > 8 {
		t.Errorf("walk in name order: %d windows %v, want a growing few", len(got), got)
	}

	// Here and there: nothing read ahead.
	if got := windows(snap, []imap.UID{500, 77, 901, 13, 640, 2}); len(got) != 0 {
		t.Errorf("random reads: windows %v, want none", got)
	}
}

func sortByName(uids []imap.UID) {
	for i := 1; i < len(uids); i++ {
		for j := i; j > 0 && nameLess(uint32(uids[j]), uint32(uids[j-1])); j-- {
			uids[j], uids[j-1] = uids[j-1], uids[j]
		}
	}
}

// The name order of a large folder is built once per snapshot; it must
// stay cheap beside the listing it comes with.
func TestLexOrderOfLargeFolder(t *testing.T) {
	snap := testSnapshot(100000)
	start := time.Now()
	o := newLexOrder(snap)
	t.Logf("name order of 100,000 messages: %v", time.Since(start))
	for p := 1; p < len(o.byPos); p++ {
		a, b := snap.Messages[o.at(p-1)].UID, snap.Messages[o.at(p)].UID
		if !nameLess(uint32(a), uint32(b)) {
			t.Fatalf("position %d: %d before %d", p, a, b)
		}
		if o.posOf(o.at(p)) != p {
			t.Fatalf("posOf(at(%d)) = %d", p, o.posOf(o.at(p)))
		}
	}
}
