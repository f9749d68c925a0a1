package fs

import "sync"

// chunkMem carves a streamed file's chunks out of large blocks whose
// memory the kernel is asked to back with huge pages (chunkmem_linux.go).
// A 100 MB attachment is 100 MB of fresh memory in the content cache, and
// a first touch of fresh memory costs a page fault per 4 KiB page: on a
// virtual machine that walks page tables in software, that cost more CPU
// than fetching and decoding the bytes did. With huge pages it is one
// fault per 2 MiB. A block is an ordinary Go allocation, kept alive by
// the chunks cut from it, so it goes back to the heap once the cache and
// every reader are done with all of them; a stream's chunks are cached
// and evicted in order, so they die together.
type chunkMem struct {
	mu   sync.Mutex
	free []byte // what is left of the current block
}

const (
	hugePageSize = 2 << 20
	// maxChunkBlock bounds a block: large enough that the alignment
	// slack of a huge page is a small part of it, small enough that one
	// chunk still in use keeps little else alive.
	maxChunkBlock = 32 << 20
)

// alloc returns n bytes, zeroed, for a chunk of a stream that needs about
// left more bytes from here on (the size of the next block).
func (m *chunkMem) alloc(n int, left int64) []byte {
	if !hugePagesAdvisable() {
		return make([]byte, n)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.free) < n {
		size := min(max(left, int64(n)), maxChunkBlock)
		size = (size+hugePageSize-1)/hugePageSize*hugePageSize + hugePageSize // room to align
		m.free = adviseHugePages(make([]byte, size))
		if len(m.free) < n {
			m.free = nil
			return make([]byte, n)
		}
	}
	out := m.free[:n:n]
	m.free = m.free[n:]
	return out
}
