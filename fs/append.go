package fs

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/imapfs/imapfs/imapbackend"
)

// maxAppendSize bounds a message written into a folder: it is held in
// memory until close. Servers refuse far smaller messages anyway.
const maxAppendSize = 256 << 20

// AppendFile is a regular file created in a folder (cp msg.eml INBOX/,
// cat > INBOX/new.eml). Its bytes are held in memory and, when the file
// is closed, appended to the mailbox; then the name goes away and the
// message shows up under its UID.
type AppendFile struct {
	gofs.Inode
	fsys    *FS
	mailbox string
	name    string
	created time.Time

	mu    sync.Mutex
	data  []byte
	dirty bool // written since the last append
}

var (
	_ gofs.NodeGetattrer = (*AppendFile)(nil)
	_ gofs.NodeSetattrer = (*AppendFile)(nil)
	_ gofs.NodeOpener    = (*AppendFile)(nil)
	_ gofs.NodeWriter    = (*AppendFile)(nil)
	_ gofs.NodeReader    = (*AppendFile)(nil)
	_ gofs.NodeFlusher   = (*AppendFile)(nil)
	_ gofs.NodeCreater   = (*FolderNode)(nil)
)

// Create starts a new message in a selectable mailbox.
func (n *FolderNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	if n.fsys.readOnly {
		return nil, nil, 0, syscall.EROFS
	}
	d, errno := n.dir(ctx, immutableTimeout)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	if !d.selectable() {
		return nil, nil, 0, syscall.EPERM // no messages in a \Noselect directory
	}
	if _, isUID := parseUID(name); isUID || d.children[name] != nil {
		return nil, nil, 0, syscall.EEXIST
	}
	file := &AppendFile{fsys: n.fsys, mailbox: d.mailbox.Name, name: name, created: time.Now()}
	if !n.fsys.addPending(file) {
		return nil, nil, 0, syscall.EEXIST
	}
	file.attr(&out.Attr)
	out.SetEntryTimeout(0)
	out.SetAttrTimeout(0)
	// The node must stay known to go-fuse while the name is pending, even
	// if the kernel forgets it between two opens.
	return n.NewPersistentInode(ctx, file, gofs.StableAttr{Mode: syscall.S_IFREG}), nil, fuse.FOPEN_DIRECT_IO, 0
}

func (a *AppendFile) attr(out *fuse.Attr) {
	a.mu.Lock()
	out.Size = uint64(len(a.data))
	a.mu.Unlock()
	out.Mode = syscall.S_IFREG | a.fsys.mode(0o644)
	out.Nlink = 1
	out.SetTimes(nil, &a.created, &a.created)
}

func (a *AppendFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	a.attr(&out.Attr)
	out.SetTimeout(0)
	return 0
}

// Setattr takes truncation (O_TRUNC, truncate(1)); modes and times that cp
// -p or touch set are accepted and forgotten: the message gets its own.
func (a *AppendFile) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		if size > maxAppendSize {
			return syscall.EFBIG
		}
		a.mu.Lock()
		if int(size) <= len(a.data) {
			a.data = a.data[:size]
		} else {
			a.data = append(a.data, make([]byte, int(size)-len(a.data))...)
		}
		a.dirty = true
		a.mu.Unlock()
	}
	a.attr(&out.Attr)
	return 0
}

func (a *AppendFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_TRUNC != 0 {
		a.mu.Lock()
		a.data, a.dirty = a.data[:0], true
		a.mu.Unlock()
	}
	return nil, fuse.FOPEN_DIRECT_IO, 0
}

func (a *AppendFile) Write(ctx context.Context, fh gofs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	end := off + int64(len(data))
	if off < 0 || end > maxAppendSize {
		return 0, syscall.EFBIG
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if int(end) > len(a.data) {
		a.data = append(a.data, make([]byte, int(end)-len(a.data))...)
	}
	copy(a.data[off:], data)
	a.dirty = true
	return uint32(len(data)), 0
}

func (a *AppendFile) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if off >= int64(len(a.data)) {
		return fuse.ReadResultData(nil), 0
	}
	return fuse.ReadResultData(append([]byte(nil), a.data[off:min(off+int64(len(dest)), int64(len(a.data)))]...)), 0
}

// Flush runs on close(2): the message is appended then, and close reports
// whether that worked (cp and shells check it). The name goes away either
// way: nothing half-written stays behind to be appended later.
func (a *AppendFile) Flush(ctx context.Context, fh gofs.FileHandle) syscall.Errno {
	a.mu.Lock()
	if !a.dirty {
		a.mu.Unlock()
		return 0
	}
	msg := append([]byte(nil), a.data...)
	a.dirty = false
	name := a.name
	a.mu.Unlock()

	defer a.remove(name)
	msg, err := prepareMessage(msg)
	if err != nil {
		a.fsys.logger.Printf("append %s to %q: %v", name, a.mailbox, err)
		return syscall.EINVAL
	}
	if _, err := a.fsys.backend.Append(ctx, a.mailbox, msg); err != nil {
		return a.fsys.errno("append "+name, err)
	}
	a.fsys.forgetSnapshot(a.mailbox)
	return 0
}

// remove forgets the pending name and tells the kernel it is gone. This
// runs in FLUSH, during which the kernel holds no lock on the directory,
// so the notification can be sent at once: by the time close(2) returns,
// the name is gone.
func (a *AppendFile) remove(name string) {
	if !a.fsys.dropPending(a.mailbox, name) {
		return
	}
	if kernelName, parent := a.Parent(); parent != nil {
		parent.RmChild(kernelName) // it was persistent while pending
		parent.NotifyEntry(kernelName)
	}
}

var errNotMessage = errors.New("not an RFC 5322 message: it does not start with a header field")

// prepareMessage checks that data is a message (a header block first) and
// normalises its line endings to CRLF. A leading mbox "From " line, as
// mail readers save messages, is dropped.
func prepareMessage(data []byte) ([]byte, error) {
	if bytes.HasPrefix(data, []byte("From ")) {
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
	}
	msg := imapbackend.NormalizeCRLF(data)
	headerEnd := bytes.Index(msg, []byte("\r\n\r\n"))
	header := msg
	if headerEnd >= 0 {
		header = msg[:headerEnd]
	}
	lines := bytes.Split(header, []byte("\r\n"))
	if len(lines) == 0 || !isFieldLine(lines[0]) {
		return nil, errNotMessage
	}
	for _, l := range lines[1:] {
		if len(l) > 0 && (l[0] == ' ' || l[0] == '\t') {
			continue // folded continuation
		}
		if !isFieldLine(l) {
			return nil, errors.New("not an RFC 5322 message: a header line is not a field")
		}
	}
	return msg, nil
}

// isFieldLine reports whether l is "Name: value" with an RFC 5322 field
// name (printable ASCII, no colon or space).
func isFieldLine(l []byte) bool {
	colon := bytes.IndexByte(l, ':')
	if colon <= 0 {
		return false
	}
	for _, c := range l[:colon] {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// Pending files, by mailbox.

func (f *FS) addPending(a *AppendFile) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.pending[a.mailbox]
	if m == nil {
		m = make(map[string]*AppendFile)
		f.pending[a.mailbox] = m
	}
	if m[a.name] != nil {
		return false
	}
	m[a.name] = a
	return true
}

func (f *FS) lookupPending(mailbox, name string) *AppendFile {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pending[mailbox][name]
}

func (f *FS) pendingIn(mailbox string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for name := range f.pending[mailbox] {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func (f *FS) dropPending(mailbox, name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending[mailbox][name] == nil {
		return false
	}
	delete(f.pending[mailbox], name)
	return true
}

// renamePending renames a file being written within its folder (editors
// and downloaders write "x.tmp" and rename it to "x.eml").
func (f *FS) renamePending(mailbox, name string, dst *mailboxDir, newName string) bool {
	if dst.mailbox == nil || dst.mailbox.Name != mailbox {
		return false // appending moves nothing between folders
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.pending[mailbox][name]
	if a == nil || f.pending[mailbox][newName] != nil {
		return false
	}
	delete(f.pending[mailbox], name)
	f.pending[mailbox][newName] = a
	a.mu.Lock()
	a.name = newName
	a.mu.Unlock()
	return true
}
