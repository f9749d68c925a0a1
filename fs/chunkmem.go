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
// and evicted in order, so they die together. Only read-ahead windows of
// a reader going in order get blocks, sized to the next window (four
// times this one) at most: the small fetches of an open or a seek (`head`,
// `dd skip=`) get plain memory, so that they neither hold a block nor
// touch a huge page for a few hundred KiB.
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
	// minChunkBlock: a window shorter than this is not worth a block.
	minChunkBlock = 2 * hugePageSize
)

// alloc returns n bytes, zeroed, for a chunk fetched in a window of
// window bytes, with rest bytes of the file from this chunk on.
func (m *chunkMem) alloc(n int, window, rest int64) []byte {
	if !hugePagesAdvisable() || window < minChunkBlock {
		return make([]byte, n)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.free) < n {
		size := max(min(rest, 4*window, maxChunkBlock), int64(n))
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
