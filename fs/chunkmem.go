package fs

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// chunkMem carves a streamed file's chunks out of large blocks whose
// memory the kernel is asked to back with huge pages (chunkmem_linux.go).
// A 100 MB attachment is 100 MB of fresh memory in the content cache, and
// a first touch of fresh memory costs a page fault per 4 KiB page: on a
// virtual machine that walks page tables in software, that cost more CPU
// than fetching and decoding the bytes did. With huge pages it is one
// fault per 2 MiB. A block is an ordinary Go allocation, kept alive by
// the chunks cut from it, so it goes back to the heap once the cache and
// every reader are done with all of them. Only read-ahead windows of
// a reader going in order get blocks, sized to the next window (four
// times this one) at most: the small fetches of an open or a seek (`head`,
// `dd skip=`) get plain memory, so that they neither hold a block nor
// touch a huge page for a few hundred KiB.
//
// One chunk still cached keeps its whole block alive, so the blocks alive
// over the whole mount are bounded (blockBudget): past the bound, chunks
// get plain memory, and memory stays within --cache-size plus the bound
// however readers and the cache interleave.
type chunkMem struct {
	mu     sync.Mutex
	free   []byte // what is left of the current block
	budget *blockBudget
}

const (
	hugePageSize = 2 << 20
	// maxChunkBlock bounds a block: large enough that the alignment
	// slack of a huge page is a small part of it, small enough that one
	// chunk still in use keeps little else alive.
	maxChunkBlock = 32 << 20
	// minChunkBlock: a window shorter than this is not worth a block.
	minChunkBlock = 2 * hugePageSize
	// MaxLiveBlocks bounds the bytes of chunk blocks alive at once, the
	// most they add to --cache-size.
	MaxLiveBlocks = 64 << 20
)

// blockBudget counts the bytes of the chunk blocks alive in one mount.
type blockBudget struct {
	live  atomic.Int64
	limit int64
}

// newBlockBudget bounds blocks to half the cache budget, at most
// MaxLiveBlocks.
func newBlockBudget(cacheBudget int64) *blockBudget {
	return &blockBudget{limit: min(cacheBudget/2, MaxLiveBlocks)}
}

// take reserves n bytes for a new block, if the bound allows.
func (b *blockBudget) take(n int64) bool {
	for {
		live := b.live.Load()
		if live+n > b.limit {
			return false
		}
		if b.live.CompareAndSwap(live, live+n) {
			return true
		}
	}
}

// newBlock allocates a block of size bytes counted against the budget
// until the garbage collector finds it unreachable; nil past the budget.
func (b *blockBudget) newBlock(size int64) []byte {
	if b == nil || !b.take(size) {
		return nil
	}
	block := make([]byte, size)
	runtime.AddCleanup(&block[0], func(n int64) { b.live.Add(-n) }, size)
	return block
}

// alloc returns n bytes, zeroed, for a chunk fetched in a window of
// window bytes, with rest bytes of the file from this chunk on.
func (m *chunkMem) alloc(n int, window, rest int64) []byte {
	if !hugePagesAdvisable() || window < minChunkBlock || m.budget == nil {
		return make([]byte, n)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.free) < n {
		size := max(min(rest, 4*window, maxChunkBlock, m.budget.limit/2), int64(n))
		size = (size+hugePageSize-1)/hugePageSize*hugePageSize + hugePageSize // room to align
		m.free = adviseHugePages(m.budget.newBlock(size))
		if len(m.free) < n {
			m.free = nil
			return make([]byte, n)
		}
	}
	out := m.free[:n:n]
	m.free = m.free[n:]
	return out
}
