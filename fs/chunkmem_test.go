package fs

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func TestChunkMemHandsOutSeparateZeroedChunks(t *testing.T) {
	m := chunkMem{budget: newBlockBudget(256 << 20)}
	var chunks [][]byte
	for i := range 40 { // more than one block of 8 MiB
		c := m.alloc(chunkSize, 8<<20, 10<<20-int64(i)*chunkSize)
		if len(c) != chunkSize || cap(c) != chunkSize {
			t.Fatalf("chunk %d: len %d cap %d, want %d", i, len(c), cap(c), chunkSize)
		}
		if !bytes.Equal(c, make([]byte, chunkSize)) {
			t.Fatalf("chunk %d is not zeroed", i)
		}
		for j := range c {
			c[j] = byte(i)
		}
		chunks = append(chunks, c)
	}
	for i, c := range chunks {
		if bytes.Count(c, []byte{byte(i)}) != len(c) {
			t.Fatalf("chunk %d was overwritten by another", i)
		}
	}
	odd := m.alloc(100, 100, 100)
	if len(odd) != 100 || cap(odd) != 100 {
		t.Errorf("small chunk: len %d cap %d, want 100", len(odd), cap(odd))
	}
}

func TestAdviseHugePagesAligns(t *testing.T) {
	if !hugePagesAdvisable() {
		t.Skip("no transparent huge pages here")
	}
	b := make([]byte, 3*hugePageSize)
	aligned := adviseHugePages(b)
	if len(aligned) < hugePageSize || len(aligned)%hugePageSize != 0 {
		t.Fatalf("aligned part has %d bytes, want a multiple of %d", len(aligned), hugePageSize)
	}
	if p := uintptr(unsafe.Pointer(unsafe.SliceData(aligned))); p%hugePageSize != 0 {
		t.Errorf("aligned part starts at %#x", p)
	}
	if eligible, ok := thpEligible(t, uintptr(unsafe.Pointer(unsafe.SliceData(aligned)))); ok && !eligible {
		t.Errorf("the kernel does not count the advised memory as eligible for huge pages (smaps THPeligible)")
	}
	if adviseHugePages(make([]byte, 4096)) != nil {
		t.Errorf("a buffer smaller than a huge page has no aligned part, got one")
	}
}

// thpEligible reads the THPeligible line of the mapping that holds addr
// from /proc/self/smaps; ok is false where the kernel does not say.
func thpEligible(t *testing.T, addr uintptr) (eligible, ok bool) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return false, false
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if from, to, isRange := strings.Cut(strings.Fields(line + " ")[0], "-"); isRange {
			lo, err1 := strconv.ParseUint(from, 16, 64)
			hi, err2 := strconv.ParseUint(to, 16, 64)
			in = err1 == nil && err2 == nil && uint64(addr) >= lo && uint64(addr) < hi
			continue
		}
		if in && strings.HasPrefix(line, "THPeligible:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "THPeligible:")) == "1", true
		}
	}
	return false, false
}

// TestChunkBlocksBounded: however chunks are kept (here one of every block,
// as when the cache holds a chunk of each of many files), the blocks alive
// never pass the budget: past it, chunks get memory of their own; and once
// the chunks are let go, blocks are handed out again.
func TestChunkBlocksBounded(t *testing.T) {
	if !hugePagesAdvisable() {
		t.Skip("no transparent huge pages here: chunks never come from blocks")
	}
	budget := newBlockBudget(32 << 20) // 16 MiB of blocks, 8 MiB each
	var kept [][]byte
	fromBlocks := 0
	for range 20 {
		m := chunkMem{budget: budget} // a file of its own each
		c := m.alloc(chunkSize, 8<<20, 100<<20)
		if cap(m.free) > 0 {
			fromBlocks++
		}
		kept = append(kept, c)
		if live := budget.live.Load(); live > budget.limit {
			t.Fatalf("%d bytes of blocks alive, over the budget of %d", live, budget.limit)
		}
	}
	if fromBlocks == 0 || fromBlocks == len(kept) {
		t.Fatalf("%d of %d chunks came from blocks: want some, then plain memory past the budget", fromBlocks, len(kept))
	}
	kept = nil
	for i := 0; i < 50 && budget.live.Load() > 0; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if live := budget.live.Load(); live != 0 {
		t.Fatalf("%d bytes of blocks still counted after their chunks were let go", live)
	}
	m := chunkMem{budget: budget}
	m.alloc(chunkSize, 8<<20, 100<<20)
	if cap(m.free) == 0 {
		t.Error("no block handed out once the others were gone")
	}
}
