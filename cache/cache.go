// Package cache holds fetched message content in memory, bounded by a byte
// budget rather than an entry count: one attachment can weigh as much as
// ten thousand headers, so counting entries would bound nothing.
package cache

import (
	"math"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Key names one piece of content on the server. UIDValidity is part of the
// key so that content cached before a mailbox was recreated can never be
// served for the new mailbox's messages.
type Key struct {
	Mailbox     string
	UIDValidity uint32
	UID         uint32
	Section     string // "HEADER", "TEXT", "1.2", ...
}

// Stats are the cache's counters since it was created.
type Stats struct {
	Hits, Misses int64
	Bytes        int64 // bytes held now
	Entries      int
}

// Cache is a byte-bounded LRU, safe for concurrent use. Values are shared,
// not copied: callers must not modify a slice they put in or got out.
type Cache struct {
	mu     sync.Mutex
	lru    *simplelru.LRU[Key, []byte]
	budget int64
	bytes  int64
	hits   int64
	misses int64
}

// New returns a cache that holds at most budget bytes of values.
func New(budget int64) *Cache {
	c := &Cache{budget: budget}
	// The entry count is unbounded: eviction is driven by bytes in Add.
	lru, err := simplelru.NewLRU[Key, []byte](math.MaxInt, func(_ Key, v []byte) {
		c.bytes -= int64(len(v))
	})
	if err != nil {
		panic(err) // only for a non-positive size, which MaxInt is not
	}
	c.lru = lru
	return c
}

// Get returns the value for k and marks it recently used.
func (c *Cache) Get(k Key) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.lru.Get(k)
	if ok {
		c.hits++
	} else {
		c.misses++
	}
	return v, ok
}

// Contains reports whether k is cached, without counting a hit or a miss
// or making k recently used.
func (c *Cache) Contains(k Key) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Contains(k)
}

// Add stores v under k, evicting the least recently used values until the
// budget holds. A value larger than the whole budget is not stored: it
// would only flush everything else and then be evicted itself.
func (c *Cache) Add(k Key, v []byte) {
	size := int64(len(v))
	c.mu.Lock()
	defer c.mu.Unlock()
	if size > c.budget {
		c.lru.Remove(k)
		return
	}
	c.lru.Remove(k) // so the old value's bytes leave the count
	c.lru.Add(k, v)
	c.bytes += size
	for c.bytes > c.budget {
		if _, _, ok := c.lru.RemoveOldest(); !ok {
			break
		}
	}
}

// DropMailbox forgets everything cached for a mailbox, under any
// UIDVALIDITY. It is called when the server's UIDVALIDITY changes.
func (c *Cache) DropMailbox(mailbox string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range c.lru.Keys() {
		if k.Mailbox == mailbox {
			c.lru.Remove(k)
		}
	}
}

// Purge forgets everything.
func (c *Cache) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Purge()
}

// Budget is the most bytes the cache holds.
func (c *Cache) Budget() int64 { return c.budget }

// Stats returns the current counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Hits: c.hits, Misses: c.misses, Bytes: c.bytes, Entries: c.lru.Len()}
}
