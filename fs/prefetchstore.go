package fs

import (
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/imapfs/imapfs/imapbackend"
)

// structEntry is a message's structure as fetched, with the decoded sizes
// of the parts that came with it (small parts read, BINARY.SIZE of the
// others) or were read ahead later. A MessageNode takes its sizes over
// when it takes the structure.
type structEntry struct {
	st    *imapbackend.Structure
	sizes sync.Map // section -> int64
	names namedAttachments
}

// itemKey names one thing read ahead: the structure (kindStructure) or a
// section of one message.
type itemKey struct {
	mailbox     string
	uidValidity uint32
	uid         imap.UID
	kind        string
}

// structStore keeps the structures fetched for messages whose directory
// was not looked up yet (read ahead), bounded in bytes: a MessageNode
// finds its structure here, and a node the kernel forgot and makes again
// does not cost a fetch.
type structStore struct {
	mu     sync.Mutex
	lru    *simplelru.LRU[itemKey, *structEntry]
	bytes  int64
	budget int64
}

func newStructStore(budget int64) *structStore {
	s := &structStore{budget: budget}
	lru, err := simplelru.NewLRU[itemKey, *structEntry](1<<30, func(_ itemKey, e *structEntry) {
		s.bytes -= entryCost(e)
	})
	if err != nil {
		panic(err) // only for a non-positive size
	}
	s.lru = lru
	return s
}

// entryCost estimates what an entry holds in memory: the header, and the
// parsed structure at a few hundred bytes per part.
func entryCost(e *structEntry) int64 {
	return int64(len(e.st.Header)) + 512 + 256*int64(len(e.st.Parts))
}

func (s *structStore) get(k itemKey) *structEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, _ := s.lru.Get(k)
	return e
}

func (s *structStore) has(k itemKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Contains(k)
}

// peek returns an entry without making it recently used: the detector
// looks at structures ahead of the reader.
func (s *structStore) peek(k itemKey) *structEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, _ := s.lru.Peek(k)
	return e
}

func (s *structStore) add(k itemKey, e *structEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lru.Remove(k)
	s.lru.Add(k, e)
	s.bytes += entryCost(e)
	for s.bytes > s.budget && s.lru.Len() > 1 {
		s.lru.RemoveOldest()
	}
}

func (s *structStore) dropMailbox(mailbox string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.lru.Keys() {
		if k.mailbox == mailbox {
			s.lru.Remove(k)
		}
	}
}

func (s *structStore) purge() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lru.Purge()
}
