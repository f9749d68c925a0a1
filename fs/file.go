package fs

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/emersion/go-imap/v2"
	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/imapfs/imapfs/cache"
	"github.com/imapfs/imapfs/imapbackend"
)

// SectionFile is one file of a message directory: HEADER, TEXT or a leaf
// MIME part. Its bytes are fetched by section when it is first read and
// kept in the shared cache.
type SectionFile struct {
	gofs.Inode
	msg     *MessageNode
	section string
	part    *imapbackend.Part // nil for HEADER and TEXT

	// reported is the size last given to the kernel plus one (0 before
	// the first): the bytes read are checked against it, and a file whose
	// bytes disagree has it corrected (correctSize).
	reported atomic.Int64
	// served is the FS's cache generation plus one when this file's bytes
	// were last handed to the kernel with its exact size: the kernel's page
	// cache may hold them still, so a later open need not fetch them.
	served atomic.Uint64
	// corrected is set once a size handed out was found wrong, so that it
	// is logged once.
	corrected atomic.Bool

	// Streaming (stream.go): the chunks in flight, shared by every open,
	// and whether a window found the file's bytes not to fit its size, so
	// that it is fetched whole from then on.
	streamMu sync.Mutex
	stream   *fileStream
	noStream atomic.Bool
}

var (
	_ gofs.NodeGetattrer = (*SectionFile)(nil)
	_ gofs.NodeOpener    = (*SectionFile)(nil)
)

// noFlush spares the kernel a FLUSH round trip on every close of a file
// opened for reading, where there is nothing to flush: grep -r closes
// several files per message (Linux 5.16 and later; others ignore it).
const noFlush = fuse.FOPEN_NOFLUSH

// size returns the file's size, if it is known without fetching the
// file: exact from the bytes at hand (HEADER, parts read or cut), from a
// probe (base64Size), or from BODYSTRUCTURE for a part sent as is. The
// server's numbers behind TEXT, message.eml and a part sent as is are
// checked when the bytes come (Open, Read), and corrected if wrong.
func (f *SectionFile) size(st *imapbackend.Structure) (int64, bool) {
	switch {
	case f.part == nil && f.section == sectionHeader:
		return int64(len(st.Header)), true
	case f.part == nil && f.section == fileMessage:
		return st.Size, true
	case f.part == nil:
		return st.TextSize(), true
	}
	if n, ok := f.msg.partSize(f.section); ok {
		return n, true
	}
	if f.part.DecodesAsIs() {
		return f.part.Size, true
	}
	return 0, false
}

// exactSize returns the file's size, fetching the file when nothing else
// tells it (quoted-printable, a charset converted, base64 that a probe
// could not size): the kernel is never given a size that is a guess, since
// it stops reading at the size it holds, and cp stops at SEEK_HOLE's.
func (f *SectionFile) exactSize(ctx context.Context, st *imapbackend.Structure) (int64, error) {
	if n, ok := f.size(st); ok {
		return n, nil
	}
	data, err := f.content(ctx)
	if err != nil {
		return 0, err
	}
	return int64(len(data)), nil
}

// attr fills a with the file's attributes, its exact size included.
func (f *SectionFile) attr(ctx context.Context, st *imapbackend.Structure, a *fuse.Attr) error {
	size, err := f.exactSize(ctx, st)
	if err != nil {
		return err
	}
	f.reported.Store(size + 1)
	a.Mode = syscall.S_IFREG | f.msg.fsys.mode(0o644)
	a.Nlink = 1
	a.Size = uint64(size)
	// Blocks as a disk file has them: cp takes a file with fewer for
	// sparse and copies only up to SEEK_HOLE.
	a.Blocks = (a.Size + 511) / 512
	t := f.msg.info.InternalDate
	a.SetTimes(nil, &t, &t)
	return nil
}

func (f *SectionFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	st, err := f.msg.structure(ctx)
	if err == nil {
		err = f.attr(ctx, st, &out.Attr)
	}
	if err != nil {
		return f.msg.fsys.errno(f.describe(), err)
	}
	out.SetTimeout(immutableTimeout)
	return 0
}

// correctSize is told the size of the bytes a read found, and reports
// whether the kernel was given another size (a server's number was
// wrong): then it logs the mismatch, once per file, and the caller tells
// the kernel to ask for the size again.
func (f *SectionFile) correctSize(n int64) bool {
	r := f.reported.Load()
	if r == 0 || r == n+1 {
		return false
	}
	if f.corrected.CompareAndSwap(false, true) {
		f.msg.fsys.logger.Printf("%s: %d bytes, where the size worked out before reading them was %d: size corrected", f.describe(), n, r-1)
	}
	f.reported.Store(n + 1)
	return true
}

// Open fetches the content, so that a failure shows as an error of open
// rather than as a short read. A file whose bytes disagree with the size
// the kernel holds is opened with direct I/O, so that the kernel reads to
// the real end, and the kernel is told the new size; a file of exact size
// keeps the kernel's page cache, since content under a UID never changes.
func (f *SectionFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, 0, syscall.EACCES
	}
	if h, ok, errno := f.openStreamed(ctx); ok || errno != 0 {
		return h, fuse.FOPEN_KEEP_CACHE | noFlush, errno
	}
	generation := f.msg.fsys.generation.Load() + 1
	if f.served.Load() == generation && f.reported.Load() > 0 {
		// Read before, at the size the kernel holds: a second grep -r of
		// a folder larger than the cache is served by the page cache. A
		// read that the page cache cannot serve fetches then.
		return &lazyHandle{file: f}, fuse.FOPEN_KEEP_CACHE | noFlush, 0
	}
	data, err := f.content(ctx)
	if err != nil {
		return nil, 0, f.msg.fsys.errno(f.describe(), err)
	}
	if f.correctSize(int64(len(data))) {
		// Not from inside OPEN, which the kernel may hold the inode for.
		go f.NotifyContent(-1, 0)
		return &contentHandle{data: data}, fuse.FOPEN_DIRECT_IO | noFlush, 0
	}
	f.served.Store(generation)
	f.storeInKernel(data)
	return &contentHandle{data: data}, fuse.FOPEN_KEEP_CACHE | noFlush, 0
}

// storedMax bounds what Open hands the kernel's page cache unasked: the
// small files that make up most of a message (larger parts stream).
const storedMax = 1 << 20

// storeInKernel puts a file's bytes, just fetched for Open, in the
// kernel's page cache before the open returns, so that the reads that
// follow are served there without a READ round trip each: grep -r reads
// every file once, right after opening it. The size the kernel holds is
// exact and the file keeps its cache (FOPEN_KEEP_CACHE), so the pages
// stand as the file's content. Where the kernel does not take them
// (macOS, an old kernel), the reads come as before.
func (f *SectionFile) storeInKernel(data []byte) {
	if len(data) == 0 || len(data) > storedMax {
		return
	}
	f.WriteCache(0, data)
}

// content returns the decoded bytes: from the cache, derived from other
// sections, brought by a read-ahead window, or fetched by section. Every
// call is shown to the read-ahead detector, hits included, so that a
// reader going through the folder keeps the windows coming.
func (f *SectionFile) content(ctx context.Context) ([]byte, error) {
	m := f.msg
	data, err := f.load(ctx)
	if err != nil {
		return nil, err
	}
	if f.part != nil {
		m.learnSize(f.section, int64(len(data)))
	}
	return data, nil
}

func (f *SectionFile) load(ctx context.Context) ([]byte, error) {
	m := f.msg
	key := m.key(f.section)
	p := m.fsys.prefetch
	if data, ok := m.fsys.cache.Get(key); ok {
		p.note(ctx, m.mailbox, m.uidValidity, f.section, m.info.UID)
		return data, nil
	}
	if data, ok := m.derive(f.section); ok {
		// A message.eml made of the cached HEADER and TEXT, or a part that
		// is the TEXT itself, is not cached again: it would hold the same
		// bytes twice, and a grep -r of a folder would fit the cache
		// only half as well.
		if f.section == sectionText {
			m.fsys.cache.Add(key, data)
		}
		return data, nil
	}
	if data, ok := f.cutFromText(); ok {
		return data, nil
	}
	p.note(ctx, m.mailbox, m.uidValidity, f.section, m.info.UID)
	ik := itemKey{mailbox: m.mailbox, uidValidity: m.uidValidity, uid: m.info.UID, kind: f.section}
	if err := p.wait(ctx, ik); err != nil {
		return nil, err
	}
	if data, ok := m.fsys.cache.Get(key); ok {
		return data, nil
	}
	if f.part != nil && f.part.Parsed {
		return f.cutFromFetchedText(ctx)
	}
	return m.fsys.content.do(m.flightKey(f.section), func() ([]byte, error) {
		section, path := f.section, []int(nil)
		if f.part != nil {
			path = f.part.Path
		}
		if section == fileMessage {
			section = "" // BODY[]: the whole message
		}
		raw, err := m.fsys.backend.FetchSection(prefetchContext(ctx), m.mailbox, m.uidValidity, m.info.UID, section, path)
		if err != nil {
			return nil, err
		}
		data := raw
		if f.part != nil {
			data = imapbackend.DecodePart(*f.part, raw)
		}
		m.fsys.cache.Add(key, data)
		return data, nil
	})
}

func (f *SectionFile) describe() string {
	return f.msg.describe() + " section " + f.section
}

// contentHandle is an open file: it holds the bytes for the life of the
// handle, so a part larger than the whole cache is still fetched once.
type contentHandle struct {
	data []byte
}

var _ gofs.FileReader = (*contentHandle)(nil)

func (h *contentHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= int64(len(h.data)) {
		return fuse.ReadResultData(nil), 0
	}
	end := off + int64(len(dest))
	if end > int64(len(h.data)) {
		end = int64(len(h.data))
	}
	return fuse.ReadResultData(h.data[off:end]), 0
}

// lazyHandle is an open file whose bytes the kernel's page cache most
// likely holds: they are fetched only if a read reaches it.
type lazyHandle struct {
	file *SectionFile
	mu   sync.Mutex
	data []byte
}

var _ gofs.FileReader = (*lazyHandle)(nil)

func (h *lazyHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	data := h.data
	h.mu.Unlock()
	if data == nil {
		var err error
		if data, err = h.file.content(ctx); err != nil {
			return nil, h.file.msg.fsys.errno(h.file.describe(), err)
		}
		h.mu.Lock()
		h.data = data
		h.mu.Unlock()
	}
	return (&contentHandle{data: data}).Read(ctx, dest, off)
}

// cutFromText finds a part in its message's TEXT, if that is cached:
// grep -r reads TEXT before the parts. Every part found is kept, so the
// TEXT is cut once for all of them.
func (f *SectionFile) cutFromText() ([]byte, bool) {
	m := f.msg
	e := m.entry.Load()
	if f.part == nil || e == nil {
		return nil, false
	}
	m.fsys.prefetch.cutCachedText(m.mailbox, m.uidValidity, e)
	return m.fsys.cache.Get(m.key(f.section))
}

// cutFromFetchedText gives a part of a structure the mount worked out
// itself (ParseStructure): cut from the message's TEXT, fetched if it is
// not cached, since the server numbers its sections otherwise.
func (f *SectionFile) cutFromFetchedText(ctx context.Context) ([]byte, error) {
	m := f.msg
	return m.fsys.content.do(m.flightKey(f.section), func() ([]byte, error) {
		e, err := m.structEntry(ctx)
		if err != nil {
			return nil, err
		}
		text, ok := m.fsys.cache.Get(m.key(sectionText))
		if !ok {
			text, err = m.fsys.content.do(m.flightKey(sectionText), func() ([]byte, error) {
				text, err := m.fsys.backend.FetchSection(prefetchContext(ctx), m.mailbox, m.uidValidity, m.info.UID, sectionText, nil)
				if err == nil {
					m.fsys.cache.Add(m.key(sectionText), text)
				}
				return text, err
			})
			if err != nil {
				return nil, err
			}
			m.fsys.prefetch.keepParts(m.mailbox, m.uidValidity, e, text)
		}
		raw, ok := imapbackend.CutParts(e.st, text)[f.section]
		if !ok {
			return nil, fmt.Errorf("%s: not found in the message's TEXT", f.describe())
		}
		data := decodeCut(*f.part, raw)
		m.fsys.cache.Add(m.key(f.section), data)
		return data, nil
	})
}

// derive builds a raw section from others already cached, since BODY[] is
// exactly BODY[HEADER] followed by BODY[TEXT]: grep -r reads TEXT and then
// message.eml, and the second should not fetch the whole message again.
func (m *MessageNode) derive(section string) ([]byte, bool) {
	cached := func(s string) ([]byte, bool) { return m.fsys.cache.Get(m.key(s)) }
	switch section {
	case fileMessage:
		header, ok1 := cached(sectionHeader)
		text, ok2 := cached(sectionText)
		if ok1 && ok2 {
			return append(append(make([]byte, 0, len(header)+len(text)), header...), text...), true
		}
	case sectionText:
		whole, ok1 := cached(fileMessage)
		header, ok2 := cached(sectionHeader)
		if ok1 && ok2 && len(header) <= len(whole) && string(whole[:len(header)]) == string(header) {
			return whole[len(header):], true
		}
	default:
		if e := m.entry.Load(); e != nil && isText(e.st, section) {
			return cached(sectionText)
		}
	}
	return nil, false
}

// hasPart reports whether a part's bytes are at hand in the cache: its
// own, or, for a part that is the TEXT itself (isText), the TEXT's. The
// read-ahead asks this before fetching a part; st is the part's message's
// structure, when known.
func (f *FS) hasPart(mailbox string, uidValidity uint32, st *imapbackend.Structure, uid imap.UID, section string) bool {
	k := cache.Key{Mailbox: mailbox, UIDValidity: uidValidity, UID: uint32(uid), Section: section}
	if f.cache.Contains(k) {
		return true
	}
	k.Section = sectionText
	return st != nil && isText(st, section) && f.cache.Contains(k)
}

// derivable reports whether derive would find section's bytes, without
// building them (message.eml is a copy of the whole message).
func (m *MessageNode) derivable(section string) bool {
	has := func(s string) bool { return m.fsys.cache.Contains(m.key(s)) }
	switch section {
	case fileMessage:
		return has(sectionHeader) && has(sectionText)
	case sectionText:
		return has(fileMessage) && has(sectionHeader)
	}
	e := m.entry.Load()
	return e != nil && m.fsys.hasPart(m.mailbox, m.uidValidity, e.st, m.info.UID, section)
}

// isText reports whether a part's file holds the message's TEXT itself:
// part 1 of a message that is not multipart (RFC 3501, 6.4.5), decoded as
// is, of the TEXT's size (a server that numbers otherwise fails that). It
// is served from the cached TEXT, never cached a second time.
func isText(st *imapbackend.Structure, section string) bool {
	if _, multipart := st.Body.(*imap.BodyStructureMultiPart); multipart || section != "1" || len(st.Parts) != 1 {
		return false
	}
	p := st.Parts[0]
	return p.Section == "1" && p.Size == st.TextSize() && p.DecodesAsIs()
}
