package cache

import (
	"bytes"
	"fmt"
	"testing"
)

func key(uid uint32) Key { return Key{Mailbox: "INBOX", UIDValidity: 1, UID: uid, Section: "TEXT"} }

func TestByteBudgetEvictsLeastRecentlyUsed(t *testing.T) {
	c := New(100)
	c.Add(key(1), make([]byte, 40))
	c.Add(key(2), make([]byte, 40))
	if _, ok := c.Get(key(1)); !ok { // 1 is now more recent than 2
		t.Fatal("entry 1 missing before the budget was reached")
	}
	c.Add(key(3), make([]byte, 40))
	if _, ok := c.Get(key(2)); ok {
		t.Error("entry 2 (least recently used) should have been evicted")
	}
	for _, uid := range []uint32{1, 3} {
		if _, ok := c.Get(key(uid)); !ok {
			t.Errorf("entry %d evicted, want kept", uid)
		}
	}
	if s := c.Stats(); s.Bytes != 80 || s.Entries != 2 {
		t.Errorf("stats = %+v, want 80 bytes in 2 entries", s)
	}
}

func TestBudgetNeverExceeded(t *testing.T) {
	c := New(1000)
	for i := 0; i < 500; i++ {
		c.Add(key(uint32(i)), make([]byte, 1+i%97))
		if b := c.Stats().Bytes; b > 1000 {
			t.Fatalf("after %d adds the cache holds %d bytes, budget 1000", i+1, b)
		}
	}
}

func TestOversizedValueIsNotStored(t *testing.T) {
	c := New(10)
	c.Add(key(1), []byte("small"))
	c.Add(key(2), make([]byte, 11))
	if _, ok := c.Get(key(2)); ok {
		t.Error("value larger than the budget was stored")
	}
	if v, ok := c.Get(key(1)); !ok || string(v) != "small" {
		t.Error("an oversized value flushed the rest of the cache")
	}
}

func TestReplacingAValueKeepsTheByteCountRight(t *testing.T) {
	c := New(100)
	c.Add(key(1), make([]byte, 60))
	c.Add(key(1), make([]byte, 30))
	if s := c.Stats(); s.Bytes != 30 || s.Entries != 1 {
		t.Fatalf("stats = %+v, want 30 bytes in 1 entry", s)
	}
	v, _ := c.Get(key(1))
	if len(v) != 30 {
		t.Errorf("got %d bytes, want the replacement's 30", len(v))
	}
}

func TestDropMailboxForgetsOnlyThatMailbox(t *testing.T) {
	c := New(1 << 20)
	for v := uint32(1); v <= 2; v++ {
		c.Add(Key{"INBOX", v, 7, "1"}, []byte("inbox"))
		c.Add(Key{"Work", v, 7, "1"}, []byte("work"))
	}
	c.DropMailbox("INBOX")
	for v := uint32(1); v <= 2; v++ {
		if _, ok := c.Get(Key{"INBOX", v, 7, "1"}); ok {
			t.Errorf("INBOX uidvalidity %d still cached", v)
		}
		if got, ok := c.Get(Key{"Work", v, 7, "1"}); !ok || !bytes.Equal(got, []byte("work")) {
			t.Errorf("Work uidvalidity %d lost", v)
		}
	}
	if s := c.Stats(); s.Bytes != 8 {
		t.Errorf("bytes = %d after drop, want 8", s.Bytes)
	}
}

func TestHitAndMissCounters(t *testing.T) {
	c := New(100)
	c.Add(key(1), []byte("x"))
	c.Get(key(1))
	c.Get(key(1))
	c.Get(key(2))
	if s := c.Stats(); s.Hits != 2 || s.Misses != 1 {
		t.Errorf("stats = %+v, want 2 hits and 1 miss", s)
	}
}

func BenchmarkAddGet(b *testing.B) {
	c := New(64 << 20)
	val := make([]byte, 4096)
	for i := 0; i < b.N; i++ {
		k := Key{Mailbox: fmt.Sprint(i % 10), UID: uint32(i)}
		c.Add(k, val)
		c.Get(k)
	}
}

func TestContainsCountsNothing(t *testing.T) {
	c := New(100)
	c.Add(key(1), []byte("x"))
	if !c.Contains(key(1)) || c.Contains(key(2)) {
		t.Fatal("Contains is wrong")
	}
	if s := c.Stats(); s.Hits != 0 || s.Misses != 0 {
		t.Errorf("Contains counted: %+v", s)
	}
}
