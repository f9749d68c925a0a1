package fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/imapfs/imapfs/cache"
)

// The chunks of a streamed file (stream.go): fetched in windows, handed
// to readers and the cache as they arrive, with read-ahead.

// fileStream is the state shared by every open of one file: the chunks
// being fetched, so that two readers (or a reader and read-ahead) never
// fetch the same chunk twice at once. It holds no content.
type fileStream struct {
	f   *SectionFile
	src streamSource
	// layout is the base64 layout raw windows assume, nil once one did
	// not fit (or for a source that is not base64): then the server
	// decodes.
	layout atomic.Pointer[b64Layout]

	mu       sync.Mutex
	inflight map[int64]*chunkCall
	running  int // fetches in flight
	// verified counts the leading chunks decoded cleanly, and clean holds
	// those decoded cleanly beyond them. A base64 chunk is right only if
	// every raw byte before it is laid out as the layout says, which its
	// own window cannot see: a character too few or too many earlier
	// shifts all that follows, in lines that still look regular. Readers
	// get chunk i only once chunks 0..i-1 are verified (verifyBefore).
	verified int64
	clean    map[int64]bool

	mem chunkMem // where chunks are decoded to
}

type chunkCall struct {
	done chan struct{}
	data []byte
	err  error
}

func (f *SectionFile) fileStream(src streamSource) *fileStream {
	f.streamMu.Lock()
	defer f.streamMu.Unlock()
	if f.stream == nil || f.stream.src.size != src.size {
		f.stream = &fileStream{f: f, src: src, inflight: make(map[int64]*chunkCall), clean: make(map[int64]bool),
			mem: chunkMem{budget: f.msg.fsys.blocks}}
		if src.base64 {
			l := defaultLayout
			f.stream.layout.Store(&l)
		}
	}
	return f.stream
}

func (s *fileStream) chunks() int64 { return (s.src.size + chunkSize - 1) / chunkSize }

// chunkLen is the size chunk i must have.
func (s *fileStream) chunkLen(i int64) int64 {
	return min(chunkSize, s.src.size-i*chunkSize)
}

// key names chunk i in the content cache. The file's size is part of it:
// a chunk cached at another size (before a read corrected it) is cut
// differently.
func (s *fileStream) key(i int64) cache.Key {
	return s.f.msg.key(s.f.section + "@" + strconv.FormatInt(s.src.size, 10) + "@" + strconv.FormatInt(i, 10))
}

// chunk returns chunk i: from the cache, from a fetch in flight, or
// fetched now together with the run-1 chunks after it.
func (s *fileStream) chunk(ctx context.Context, i int64, run int64) ([]byte, error) {
	if data, ok := s.f.msg.fsys.cache.Get(s.key(i)); ok {
		s.markClean(i) // cached only once decoded cleanly
		return data, nil
	}
	s.mu.Lock()
	call := s.inflight[i]
	s.mu.Unlock()
	if call == nil {
		first, calls := s.claim(i, run)
		if len(calls) == 0 {
			// Someone else claimed it in between.
			s.mu.Lock()
			call = s.inflight[i]
			s.mu.Unlock()
			if call == nil {
				return s.chunk(ctx, i, 1)
			}
		} else {
			// The window goes on after its first chunk is in, for the
			// reads to come, while this one returns. The fetch lets go
			// of each call as it completes it, so take this one first.
			call = calls[0]
			go s.fetch(ctx, first, calls)
		}
	}
	<-call.done
	return call.data, call.err
}

// claim registers fetches for chunk i and up to run-1 chunks after it that
// are neither cached nor in flight, stopping at the first that is.
func (s *fileStream) claim(i, run int64) (int64, []*chunkCall) {
	c := s.f.msg.fsys.cache
	s.mu.Lock()
	defer s.mu.Unlock()
	var calls []*chunkCall
	for j := i; j < i+run && j < s.chunks(); j++ {
		if s.inflight[j] != nil || c.Contains(s.key(j)) {
			break
		}
		call := &chunkCall{done: make(chan struct{})}
		s.inflight[j] = call
		calls = append(calls, call)
	}
	return i, calls
}

// fetch fetches the chunks first.. of calls in one window and completes
// each call as soon as its bytes are in, so the reader goes on while the
// rest of the window arrives. The fetch does not end with the reader that
// asked for it: others may be waiting on it, and the backend bounds it
// with its own timeout, which also keeps a killed cp from leaving a
// command half read. A window that breaks off fails the chunks not in yet;
// their next read fetches them again.
func (s *fileStream) fetch(ctx context.Context, first int64, calls []*chunkCall) {
	ctx = context.WithoutCancel(ctx)
	s.mu.Lock()
	s.running++
	s.mu.Unlock()
	done := 0
	for done < len(calls) {
		n, err := s.fetchFrom(ctx, first+int64(done), calls[done:])
		done += n
		switch {
		case errors.Is(err, errNewLayout):
			continue // the first window showed the part's layout: again with it
		case errors.Is(err, errLayout), errors.Is(err, errShortWindow), errors.Is(err, errPastEnd):
			err = fmt.Errorf("%w, at chunk %d: %w", errSizeUnsure, first+int64(done), err)
		case err == nil && n == 0:
			err = fmt.Errorf("%w: the server sent no bytes at %d", errSizeUnsure, (first+int64(done))*chunkSize)
		case err != nil && n > 0 && done < len(calls):
			// Broken off after some chunks (a lost connection): ask for
			// the rest. Each round completes a chunk at least, so this
			// ends.
			continue
		}
		if err != nil {
			for k := done; k < len(calls); k++ {
				s.complete(first+int64(k), calls[k], nil, err)
			}
			break
		}
	}
	s.mu.Lock()
	s.running--
	s.mu.Unlock()
}

// complete hands chunk i to the readers waiting on call, and to the cache.
func (s *fileStream) complete(i int64, call *chunkCall, data []byte, err error) {
	if err == nil {
		s.f.msg.fsys.cache.Add(s.key(i), data)
		s.markClean(i)
	}
	call.data, call.err = data, err
	s.mu.Lock()
	delete(s.inflight, i)
	s.mu.Unlock()
	close(call.done)
}

// markClean notes that chunk i decoded cleanly.
func (s *fileStream) markClean(i int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i < s.verified {
		return
	}
	s.clean[i] = true
	for s.clean[s.verified] {
		delete(s.clean, s.verified)
		s.verified++
	}
}

// verifyBefore returns once chunks 0..i-1 are verified (see verified),
// fetching those that are neither cached nor in flight: a reader going in
// order has them already, one that seeks (dd skip=, tail) pays for the
// bytes before it. Raw bytes at exact offsets (TEXT, a part sent as is)
// need no such check.
func (s *fileStream) verifyBefore(ctx context.Context, i int64) error {
	if !s.src.base64 {
		return nil
	}
	for {
		s.mu.Lock()
		v := s.verified
		s.mu.Unlock()
		if v >= i {
			return nil
		}
		if _, err := s.chunk(ctx, v, min(maxRunChunks, i-v)); err != nil && !errors.Is(err, errNotFetched) {
			return err
		}
	}
}

var (
	errShortWindow = errors.New("the server sent fewer bytes than the size")
	errPastEnd     = errors.New("the part goes on past the size")
	errNewLayout   = errors.New("base64 layout learnt from the first window")
	// errSizeUnsure reports a file whose bytes do not fit the size the
	// kernel was given: it is fetched whole instead (streamHandle.Read).
	errSizeUnsure = errors.New("the file's bytes do not fit its size")
)

// tailSlack is how far past a base64 part's last character its last window
// reads, to see that only line ends follow.
const tailSlack = 8

// fetchFrom fetches chunks first.. in one window and returns how many it
// completed.
func (s *fileStream) fetchFrom(ctx context.Context, first int64, calls []*chunkCall) (int, error) {
	m := s.f.msg
	offset := first * chunkSize
	end := min(offset+int64(len(calls))*chunkSize, s.src.size)
	completed := 0
	l := s.layout.Load()
	last := end == s.src.size // the window checks that the part ends there
	if l == nil {
		ask := end - offset
		if last {
			ask++ // a byte past the end must not come
		}
		err := m.fsys.backend.FetchWindowTo(ctx, m.mailbox, m.uidValidity, m.info.UID, s.src.section, s.src.path, offset, ask, func(r io.Reader, n int64) error {
			pos := int64(0)
			for k := range calls {
				want := s.chunkLen(first + int64(k))
				if pos+want > n {
					return errShortWindow
				}
				pos += want
				if k < completed { // a retry from the start
					if _, err := io.CopyN(io.Discard, r, want); err != nil {
						return err
					}
					continue
				}
				buf := s.mem.alloc(int(want), end-offset, s.src.size-(first+int64(k))*chunkSize)
				if _, err := io.ReadFull(r, buf); err != nil {
					return err
				}
				s.complete(first+int64(k), calls[k], buf, nil)
				calls[k] = nil // the window must not keep the bytes alive to its end
				completed++
			}
			if last && n > end-offset {
				return errPastEnd
			}
			return nil
		})
		return completed, err
	}
	r0, r1, _, _ := l.rawRange(offset, end)
	ask := r1 - r0
	if last {
		ask += tailSlack
	}
	err := m.fsys.backend.FetchWindowTo(ctx, m.mailbox, m.uidValidity, m.info.UID, s.src.section, s.src.path, r0, ask, func(r io.Reader, n int64) error {
		// buf holds the raw bytes from bufStart on that are read and
		// still needed: a chunk's raw range overlaps the next one's by the
		// group of 4 characters the boundary falls in.
		var buf, scratch []byte
		bufStart := r0
		for k := range calls {
			i := first + int64(k)
			want := s.chunkLen(i)
			a0, a1, c0, skip := l.rawRange(i*chunkSize, i*chunkSize+want)
			if a1-r0 > n {
				return errShortWindow
			}
			if more := a1 - bufStart - int64(len(buf)); more > 0 {
				buf = slices.Grow(buf, int(more))
				if _, err := io.ReadFull(r, buf[len(buf):len(buf)+int(more)]); err != nil {
					return err
				}
				buf = buf[:len(buf)+int(more)]
			}
			raw := buf[a0-bufStart : a1-bufStart]
			if k >= completed {
				scratch = append(scratch[:0], raw...) // decode works in place
				data, err := l.decode(scratch, c0, func(n int) []byte { return s.mem.alloc(n, end-offset, s.src.size-i*chunkSize) })
				if err == nil && int64(len(data)) < skip+want {
					err = errLayout // shorter than the size
				}
				if err != nil {
					if other, ok := windowLayout(raw); ok && i == 0 && other != *l {
						s.layout.Store(&other)
						return errNewLayout
					}
					return err
				}
				s.complete(i, calls[k], data[skip:skip+want:skip+want], nil)
				calls[k] = nil
				completed++
			}
			// Keep only what the next chunk needs (it may start after a
			// line end not read yet).
			next := a1
			if k+1 < len(calls) {
				n0, _, _, _ := l.rawRange((i+1)*chunkSize, (i+1)*chunkSize+1)
				next = min(n0, a1)
			}
			buf = append(buf[:0], buf[next-bufStart:]...)
			bufStart = next
		}
		if last {
			// Only line ends may follow the last character.
			rest, err := io.ReadAll(io.LimitReader(r, n-(r1-r0)))
			if err != nil {
				return err
			}
			if len(bytes.TrimRight(rest, " \t\r\n")) > 0 {
				return errPastEnd
			}
		}
		return nil
	})
	return completed, err
}

// busy reports whether read-ahead must wait for the fetches in flight: a
// reader gets its bytes as a window arrives, so two windows in flight keep
// the link busy across the round trip between them; more only make the
// server seek and compete for its CPU.
func (s *fileStream) busy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running >= 2
}

// ahead starts fetches of the chunks of [from, to) that are neither cached
// nor in flight, in runs of at most maxRunChunks, as long as read-ahead
// slots are free. It returns where the fetches started so far end.
func (s *fileStream) ahead(ctx context.Context, from, to int64) int64 {
	fsys := s.f.msg.fsys
	to = min(to, s.src.size)
	i := from / chunkSize
	last := (to + chunkSize - 1) / chunkSize
	for i < last {
		if s.busy() {
			return i * chunkSize
		}
		first, calls := s.claim(i, min(maxRunChunks, last-i))
		if len(calls) == 0 {
			i++ // cached or in flight already
			continue
		}
		if !fsys.windows.tryAcquire(fsys) {
			s.unclaim(first, calls)
			return i * chunkSize
		}
		go func() {
			defer fsys.windows.release()
			s.fetch(ctx, first, calls)
		}()
		i += int64(len(calls))
	}
	return to
}

// unclaim gives back chunks claimed for a fetch that did not start.
func (s *fileStream) unclaim(first int64, calls []*chunkCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, call := range calls {
		delete(s.inflight, first+int64(k))
		call.err = errNotFetched
		close(call.done)
	}
}

// errNotFetched is what a reader waiting on a chunk whose read-ahead did
// not start sees: it fetches the chunk itself.
var errNotFetched = errors.New("chunk not fetched")
