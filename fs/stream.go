package fs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// A large file of exact size is not fetched whole when it is opened: it is
// read in chunks, fetched by byte range (BODY.PEEK[...]<offset.size>: raw
// bytes, for base64 decoded here as they arrive, see stream_base64.go)
// and kept in the content cache like any other content, so that the cache
// budget bounds the memory a 100 MB attachment takes, `head -c 1000` of it
// costs one small fetch, and a second `cp` is served from the cache (or,
// past the budget, from the kernel's page cache: the file is opened with
// FOPEN_KEEP_CACHE and its exact size). Every window is checked against
// the size the kernel was given (the layout, and the part's end in the
// last window); a file that fails the check is fetched whole, decoded as
// any other, and its size corrected, so no reader ever gets a short file.
//
// A reader going through the file in order gets read-ahead: windows of
// the next chunks, growing as the reader keeps going, two in flight so
// that the link stays busy across the round trip between them.
const (
	// streamThreshold: files larger than this are streamed.
	streamThreshold = 1 << 20
	// chunkSize is the unit kept in the cache, and the first fetch, at
	// open: small, so that open is quick and head reads little.
	chunkSize = 256 << 10
	// maxRunChunks bounds one fetch: 32 MiB, enough to keep a link with
	// 50 ms of round trip busy, and few enough windows for a server that
	// reads a part from its start to every window's offset (Dovecot
	// does). A window is read a chunk at a time, so its size costs no
	// memory beyond the chunks in the cache.
	maxRunChunks = 128
	// maxAhead bounds how far read-ahead runs in front of the reader (and
	// so the bytes in flight); it is also at most a quarter of the cache,
	// so that what is fetched ahead is still cached when it is read.
	maxAhead = 32 << 20
	// minStreamCache: a cache too small to keep a few chunks until they
	// are read leaves large files to the whole fetch.
	minStreamCache = 4 * chunkSize
)

// windowSlots bounds the read-ahead fetches in flight over the whole mount
// to one less than the connections, so that a read someone waits for
// always finds a connection.
type windowSlots struct {
	once  sync.Once
	slots chan struct{}
}

func (w *windowSlots) init(f *FS) {
	w.once.Do(func() {
		w.slots = make(chan struct{}, max(1, f.backend.Stats().MaxConns-1))
	})
}

func (w *windowSlots) tryAcquire(f *FS) bool {
	w.init(f)
	select {
	case w.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// acquire waits for a slot: read-ahead across messages (prefetchwindow.go)
// queues rather than gives up, since readers wait for its windows.
func (w *windowSlots) acquire(ctx context.Context, f *FS) error {
	w.init(f)
	select {
	case w.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *windowSlots) release() { <-w.slots }

// streamSource says how a file's chunks are fetched.
type streamSource struct {
	section string // for FetchWindowTo: "TEXT", "" (BODY[]) or a part number
	path    []int
	base64  bool // raw windows decoded here (stream_base64.go)
	size    int64
}

// streamable reports how f can be streamed, or false when it is to be
// fetched whole: small, converted from its charset, or quoted-printable
// (their sizes come from fetching them whole, which leaves them cached).
// Windows are never decoded by the server: its decoding of a broken part
// may differ from ours, and a file must read the same however it is read.
func (f *SectionFile) streamable(size int64) (streamSource, bool) {
	if size <= streamThreshold || f.noStream.Load() || f.msg.fsys.cache.Budget() < minStreamCache {
		return streamSource{}, false
	}
	src := streamSource{section: f.section, size: size}
	switch {
	case f.part == nil && f.section == sectionText:
	case f.part == nil && f.section == fileMessage:
		src.section = ""
	case f.part == nil, f.part.Parsed: // a Parsed part is cut from the TEXT
		return streamSource{}, false
	case f.part.DecodesAsIs():
		src.path = f.part.Path
	case f.part.Encoding == "base64" && !convertsCharset(*f.part):
		src.path, src.base64 = f.part.Path, true
	default:
		return streamSource{}, false
	}
	return src, true
}

// streamHandle is one open of a streamed file: where its reader is, for
// read-ahead. The content is in the cache, never in the handle.
type streamHandle struct {
	s *fileStream

	// whole is the file fetched whole, once a window found the size the
	// kernel was given wrong: the rest is served from it.
	whole atomic.Pointer[[]byte]

	mu       sync.Mutex
	next     int64 // where the last read ended
	seq      int64 // bytes read in order up to next
	window   int64 // size of the last read-ahead window; 0 before the first
	aheadEnd int64 // read-ahead has been started up to here
	marker   int64 // a read reaching here starts the next window
}

var _ gofs.FileReader = (*streamHandle)(nil)

func (h *streamHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	s := h.s
	if whole := h.whole.Load(); whole != nil {
		return (&contentHandle{data: *whole}).Read(ctx, dest, off)
	}
	if off >= s.src.size || len(dest) == 0 {
		return fuse.ReadResultData(nil), 0
	}
	end := min(off+int64(len(dest)), s.src.size)
	run := h.advance(ctx, off, end)
	first, last := off/chunkSize, (end-1)/chunkSize
	var out []byte
	for i := first; i <= last; i++ {
		data, err := s.chunk(ctx, i, run)
		if errors.Is(err, errNotFetched) {
			data, err = s.chunk(ctx, i, run)
		}
		if err == nil {
			err = s.verifyBefore(ctx, i)
		}
		if errors.Is(err, errSizeUnsure) {
			return h.readWhole(ctx, dest, off, err)
		}
		if err != nil {
			// This read fails; the next one tries again.
			return nil, s.f.msg.fsys.errno(s.f.describe(), err)
		}
		from, to := max(off-i*chunkSize, 0), min(end-i*chunkSize, int64(len(data)))
		if from > to {
			return nil, s.f.msg.fsys.errno(s.f.describe(), fmt.Errorf("chunk %d has %d bytes, short of offset %d", i, len(data), off))
		}
		if first == last {
			return fuse.ReadResultData(data[from:to]), 0
		}
		if out == nil {
			out = dest[:0]
		}
		out = append(out, data[from:to]...)
	}
	return fuse.ReadResultData(out), 0
}

const (
	// firstStreamWindow is the first read-ahead window of a reader going
	// in order.
	firstStreamWindow = 4 * chunkSize
	// readReorder is how far apart the kernel's reads of one reader
	// going in order may arrive: its read-ahead (MaxReadAhead) has a few
	// reads in flight at once, served concurrently, and a seek that
	// restarted the windows at their smallest here would cost the reader
	// a round trip per window until they have grown again.
	readReorder = 4 << 20
)

// inOrder reports whether a read at off follows one that ended at next:
// the kernel's own read-ahead sends reads out of order (several at once,
// served concurrently), so only a jump further than that is a seek.
func inOrder(off, next int64) bool {
	return off >= next-readReorder && off <= next+readReorder
}

// advance notes a read of [off, end) and, when the reader goes through the
// file in order, keeps read-ahead going as the kernel does for disks: the
// first window starts once a chunk has been read in order, and when the
// reader reaches the middle of the last window the next one starts, four
// times as large (a long round trip wants large windows soon), up to
// maxAhead. A seek starts over. It returns how many chunks
// a fetch this read has to make itself should take.
func (h *streamHandle) advance(ctx context.Context, off, end int64) int64 {
	h.mu.Lock()
	if inOrder(off, h.next) {
		h.seq += end - off
	} else {
		h.seq, h.window, h.aheadEnd, h.marker = end-off, 0, 0, 0
	}
	h.next = max(h.next, end)
	if h.seq < chunkSize {
		h.mu.Unlock()
		return 1 // head, a seek: only what is asked for
	}
	if h.window > 0 && end < h.marker {
		run := h.window / chunkSize
		h.mu.Unlock()
		return min(maxRunChunks, run)
	}
	limit := max(firstStreamWindow, min(int64(maxAhead), h.s.f.msg.fsys.cache.Budget()/4))
	window := min(max(4*h.window, firstStreamWindow), limit)
	from := max(h.aheadEnd, end)
	to := from + window
	prevWindow := h.window
	h.window, h.aheadEnd, h.marker = window, to, from+window/2
	h.mu.Unlock()

	reached := h.s.ahead(context.WithoutCancel(ctx), from, to)
	if reached < min(to, h.s.src.size) {
		// No read-ahead slot free: try again on the next read, with the
		// same window.
		h.mu.Lock()
		h.window, h.aheadEnd, h.marker = prevWindow, reached, end
		h.mu.Unlock()
	}
	return min(maxRunChunks, window/chunkSize)
}

// readWhole serves a read, and every later one of this open, from the
// file fetched whole, after a window found that the file's bytes do not
// fit the size the kernel was given (why): the size is corrected, and
// the kernel asks for it again when its reader reaches the old end.
func (h *streamHandle) readWhole(ctx context.Context, dest []byte, off int64, why error) (fuse.ReadResult, syscall.Errno) {
	f := h.s.f
	f.noStream.Store(true)
	data, err := f.content(ctx)
	if err != nil {
		return nil, f.msg.fsys.errno(f.describe(), err)
	}
	if f.correctSize(int64(len(data))) {
		f.msg.fsys.logger.Printf("%s: %v", f.describe(), why)
		// Before this read returns: its reader must find the new size
		// when it reaches the old end. Attributes only (offset -1) take
		// no page lock, so this cannot wait on the read itself.
		f.NotifyContent(-1, 0)
	}
	h.whole.Store(&data)
	return (&contentHandle{data: data}).Read(ctx, dest, off)
}

// openStream opens f as a stream of src: the first chunk is fetched now,
// so that a failure shows as an error of open. A file whose first window
// does not fit its size gets the whole fetch, now and for later opens.
func (f *SectionFile) openStream(ctx context.Context, src streamSource) (gofs.FileHandle, error) {
	s := f.fileStream(src)
	if _, err := s.chunk(ctx, 0, 1); err != nil {
		if errors.Is(err, errSizeUnsure) {
			f.noStream.Store(true)
			return nil, errFetchWhole
		}
		return nil, err
	}
	return &streamHandle{s: s}, nil
}

// errFetchWhole tells Open to fetch the file whole after all.
var errFetchWhole = errors.New("fetch the whole section")

// openStreamed opens f as a stream when it is large, of exact size (and
// the kernel has that size), not cached whole and streamable; ok is false
// when f is to be opened as a whole instead.
func (f *SectionFile) openStreamed(ctx context.Context) (h gofs.FileHandle, ok bool, errno syscall.Errno) {
	m := f.msg
	st, err := m.structure(ctx)
	if err != nil {
		return nil, false, m.fsys.errno(f.describe(), err)
	}
	size, exact := f.size(st)
	if !exact || f.reported.Load() != size+1 || size <= streamThreshold {
		return nil, false, 0
	}
	src, ok := f.streamable(size)
	if !ok || m.fsys.cache.Contains(m.key(f.section)) || m.derivable(f.section) {
		return nil, false, 0 // content finds it, or derives it
	}
	h, err = f.openStream(ctx, src)
	if errors.Is(err, errFetchWhole) {
		return nil, false, 0
	}
	if err != nil {
		return nil, false, m.fsys.errno(f.describe(), err)
	}
	return h, true, 0
}
