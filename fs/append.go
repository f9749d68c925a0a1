package fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
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
// cat > INBOX/new.eml), or the message.eml of a pending message directory
// (cp -r, draft.go). Its bytes are held in memory and appended to the
// mailbox once, at the last close (RELEASE): never on FLUSH, which Linux
// sends on every close(2) of every copy of a descriptor (a shell's
// children close theirs too). Then the name goes away and the message
// shows up under its UID.
//
// A name starting with "." (rsync's and editors' temporary files) is
// staged: its bytes stay here, never sent, until it is renamed to a name
// without the dot, so a killed writer appends nothing. A staged file that
// is never renamed stays, local to the mount, until rm or unmount.
type AppendFile struct {
	gofs.Inode
	fsys    *FS
	mailbox string
	created time.Time
	// draft is the pending message directory holding this message.eml,
	// nil for a file written into a folder.
	draft *MessageDraft

	mu    sync.Mutex
	name  string
	data  []byte
	opens int // handles not yet released
	state appendState
	// dirty says the bytes were written since the file was made or since
	// the last APPEND of them was tried: only then does a last close
	// send them (a reader's close of a file the server refused must not
	// try again).
	dirty bool
}

// appendState is where a file stands on its way to the server.
type appendState int

const (
	appendWriting appendState = iota // open for writes; sent at the last release
	appendSending                    // the APPEND is in flight
	appendDone                       // appended, refused as no message, or unlinked
)

// appendHandle is the handle of one open of an AppendFile: go-fuse sends
// RELEASE only for opens that returned a handle.
type appendHandle struct {
	readOnly bool // cat of a file being written: its close checks nothing
}

var (
	_ gofs.NodeGetattrer = (*AppendFile)(nil)
	_ gofs.NodeSetattrer = (*AppendFile)(nil)
	_ gofs.NodeOpener    = (*AppendFile)(nil)
	_ gofs.NodeWriter    = (*AppendFile)(nil)
	_ gofs.NodeReader    = (*AppendFile)(nil)
	_ gofs.NodeFlusher   = (*AppendFile)(nil)
	_ gofs.NodeReleaser  = (*AppendFile)(nil)
	_ gofs.NodeCreater   = (*FolderNode)(nil)
)

// staged reports whether a file of this name waits for a rename before
// it is appended.
func staged(name string) bool { return strings.HasPrefix(name, ".") }

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
	if _, isUID := parseUID(name); isUID || d.children[name] != nil || isVirtualName(name) {
		return nil, nil, 0, syscall.EEXIST
	}
	file := &AppendFile{fsys: n.fsys, mailbox: d.mailbox.Name, name: name, created: time.Now(), opens: 1, dirty: true}
	if !n.fsys.addPending(file) {
		return nil, nil, 0, syscall.EEXIST
	}
	file.attr(&out.Attr)
	out.SetEntryTimeout(0)
	out.SetAttrTimeout(0)
	// The node must stay known to go-fuse while the name is pending, even
	// if the kernel forgets it between two opens.
	return n.NewPersistentInode(ctx, file, gofs.StableAttr{Mode: syscall.S_IFREG}), &appendHandle{}, fuse.FOPEN_DIRECT_IO, 0
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
// -p, rsync or touch set are accepted and forgotten: the message gets its
// own.
func (a *AppendFile) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		if size > maxAppendSize {
			return syscall.EFBIG
		}
		a.mu.Lock()
		if a.state != appendWriting {
			a.mu.Unlock()
			return syscall.EBUSY
		}
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
	readOnly := flags&syscall.O_ACCMODE == syscall.O_RDONLY
	a.mu.Lock()
	switch {
	case a.state == appendDone:
		a.mu.Unlock()
		return nil, 0, syscall.ENOENT // the name is gone
	case a.state == appendSending && !readOnly:
		a.mu.Unlock()
		return nil, 0, syscall.EBUSY
	}
	a.opens++
	if flags&syscall.O_TRUNC != 0 && !readOnly {
		a.data, a.dirty = a.data[:0], true
	}
	a.mu.Unlock()
	if a.draft != nil {
		a.draft.opened()
	}
	return &appendHandle{readOnly: readOnly}, fuse.FOPEN_DIRECT_IO, 0
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

// Flush runs on every close(2), so it appends nothing. It checks what was
// written so far is a message, since close(2) reports FLUSH's answer and
// not RELEASE's: cp of a JPEG fails with EINVAL. An empty file passes
// (a shell opens before anything is written).
func (a *AppendFile) Flush(ctx context.Context, fh gofs.FileHandle) syscall.Errno {
	if h, ok := fh.(*appendHandle); ok && h.readOnly {
		return 0
	}
	a.mu.Lock()
	err := error(nil)
	if len(a.data) > 0 {
		err = checkHeader(a.data)
	}
	name := a.name
	a.mu.Unlock()
	if err != nil {
		a.fsys.logger.Printf("append %s to %q: %v", name, a.mailbox, err)
		return syscall.EINVAL
	}
	return 0
}

// Release is the last close of one open: when no other open remains, the
// file is appended, unless its name is staged. Nobody sees this errno
// (close(2) has returned): a refusal is logged and kept in the status
// file, and the file stays under its name so that the bytes are not lost.
func (a *AppendFile) Release(ctx context.Context, fh gofs.FileHandle) syscall.Errno {
	a.mu.Lock()
	a.opens--
	last := a.opens == 0 && !staged(a.name)
	a.mu.Unlock()
	if a.draft != nil {
		a.draft.released()
	}
	if !last {
		return 0
	}
	// RELEASE is not interruptible and nobody waits for it: the backend's
	// own timeout bounds it.
	return a.send(context.WithoutCancel(ctx))
}

// send appends the file if it is complete: no open handle, written since
// the last try. An empty file is dropped without an APPEND, a non-message
// is dropped with EINVAL. On success the name goes away.
func (a *AppendFile) send(ctx context.Context) syscall.Errno {
	a.mu.Lock()
	if a.state != appendWriting || a.opens > 0 || !a.dirty {
		a.mu.Unlock()
		return 0
	}
	name := a.name
	if len(a.data) == 0 {
		a.state = appendDone
		a.mu.Unlock()
		a.finish(name)
		return 0
	}
	msg, err := prepareMessage(a.data)
	if err != nil {
		a.state, a.data = appendDone, nil
		a.mu.Unlock()
		a.fsys.logger.Printf("append %s to %q: %v; nothing appended", name, a.mailbox, err)
		a.finish(name)
		return syscall.EINVAL
	}
	a.state, a.dirty = appendSending, false
	a.mu.Unlock()

	done := a.fsys.changingHere(a.mailbox)
	_, err = a.fsys.backend.Append(ctx, a.mailbox, msg)
	done(err == nil)
	a.mu.Lock()
	if err != nil {
		a.state = appendWriting
		a.mu.Unlock()
		op := fmt.Sprintf("append %s to %q", name, a.mailbox)
		errno, noted := a.fsys.report(op, err)
		if !noted {
			// report keeps these out of the status file, as the caller
			// hears of them; at RELEASE nobody does.
			a.fsys.errors.note(op, err)
		}
		a.fsys.logger.Printf("%s not done (%v); the file stays under its name", op, errno)
		return errno
	}
	a.state, a.data = appendDone, nil
	a.mu.Unlock()
	a.fsys.forgetSnapshot(a.mailbox)
	a.finish(name)
	return 0
}

// waitClosed waits up to d for the file's opens to be released: a writer's
// close(2) returns before its RELEASE is handled, and mv may come first.
func (a *AppendFile) waitClosed(d time.Duration) {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		a.mu.Lock()
		open := a.opens > 0
		a.mu.Unlock()
		if !open {
			return
		}
	}
}

// finish takes the name away once the file is done with: the message has
// its UID directory now. In a pending message directory the name stays
// until the directory goes (draft.go).
func (a *AppendFile) finish(name string) {
	if a.draft != nil {
		a.draft.appended()
		return
	}
	if !a.fsys.dropPending(a.mailbox, name, a) {
		return
	}
	// From a goroutine: the caller may be a RENAME, during which the
	// kernel holds the directory's lock that the notification needs.
	if _, parent := a.Parent(); parent != nil {
		go func() {
			parent.NotifyEntry(name)
			if parent.GetChild(name) == &a.Inode {
				parent.RmChild(name)
			}
			a.ForgetPersistent() // it was persistent while pending
		}()
	}
}

// renamePending renames a file being written within its folder (rsync's
// and editors' ".x.tmp" to "x.eml"). A rename to a name without the dot
// appends the file there and then, if it is closed, so that mv's exit
// status says whether the message went; if the server refuses, the rename
// is undone.
func (n *FolderNode) renamePending(ctx context.Context, a *AppendFile, src, dstDir *mailboxDir, newName string) syscall.Errno {
	if dstDir.mailbox == nil || dstDir.mailbox.Name != src.mailbox.Name {
		return syscall.EXDEV // mv copies, and the copy is appended there
	}
	if _, isUID := parseUID(newName); isUID || dstDir.children[newName] != nil || isVirtualName(newName) {
		return syscall.EEXIST
	}
	mailbox := src.mailbox.Name
	a.mu.Lock()
	oldName := a.name
	var err error
	if !staged(newName) && len(a.data) > 0 {
		err = checkHeader(a.data)
	}
	a.mu.Unlock()
	if err != nil {
		// Not EINVAL: mv reads that as "a subdirectory of itself".
		n.fsys.logger.Printf("rename %s to %s in %q: %v", oldName, newName, mailbox, err)
		return syscall.EBADMSG
	}
	if errno := n.fsys.renamePendingName(mailbox, oldName, newName); errno != 0 {
		return errno
	}
	if staged(newName) {
		return 0
	}
	a.waitClosed(time.Second)
	a.mu.Lock()
	a.dirty = true // a rename to a real name is a request to send
	a.mu.Unlock()
	if errno := a.send(ctx); errno != 0 {
		a.mu.Lock()
		a.dirty = true // not sent: the next rename tries again
		a.mu.Unlock()
		n.fsys.renamePendingName(mailbox, newName, oldName)
		return errno
	}
	return 0
}

var errNotMessage = errors.New("not an RFC 5322 message: it does not start with a header field")

// prepareMessage checks that data is a message (a header block first) and
// normalises its line endings to CRLF. A leading mbox "From " line, as
// mail readers save messages, is dropped.
func prepareMessage(data []byte) ([]byte, error) {
	if err := checkHeader(data); err != nil {
		return nil, err
	}
	return imapbackend.NormalizeCRLF(dropMboxLine(data)), nil
}

func dropMboxLine(data []byte) []byte {
	if bytes.HasPrefix(data, []byte("From ")) {
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			return data[i+1:]
		}
	}
	return data
}

// checkHeader reports whether data starts with a header block: field
// lines (or folded continuations) up to the first empty line or the end.
// It reads the header only, so that FLUSH of a large file stays cheap.
func checkHeader(data []byte) error {
	data = dropMboxLine(data)
	for first := true; len(data) > 0; first = false {
		var line []byte
		line, data = cutLine(data)
		if len(line) == 0 {
			if first {
				return errNotMessage
			}
			break // the end of the header
		}
		if !first && (line[0] == ' ' || line[0] == '\t') {
			continue // folded continuation
		}
		if !isFieldLine(line) {
			if first {
				return errNotMessage
			}
			return errors.New("not an RFC 5322 message: a header line is not a field")
		}
	}
	return nil
}

// cutLine splits off the first line, ended by CRLF, LF or a bare CR.
func cutLine(data []byte) (line, rest []byte) {
	i := bytes.IndexAny(data, "\r\n")
	if i < 0 {
		return data, nil
	}
	line, rest = data[:i], data[i+1:]
	if data[i] == '\r' && len(rest) > 0 && rest[0] == '\n' {
		rest = rest[1:]
	}
	return line, rest
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

// dropPending forgets a pending name if it still names a.
func (f *FS) dropPending(mailbox, name string, a *AppendFile) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending[mailbox][name] != a {
		return false
	}
	delete(f.pending[mailbox], name)
	return true
}

// unlinkPending removes a file being written: it will not be appended,
// even if it is still open. A file whose APPEND is in flight is busy.
func (f *FS) unlinkPending(mailbox, name string) (bool, syscall.Errno) {
	found, a, errno := f.takePending(mailbox, name)
	if found && errno == 0 {
		a.ForgetPersistent() // go-fuse drops it with the kernel's FORGET
	}
	return found, errno
}

func (f *FS) takePending(mailbox, name string) (bool, *AppendFile, syscall.Errno) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.pending[mailbox][name]
	if a == nil {
		return false, nil, 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state == appendSending {
		return true, nil, syscall.EBUSY
	}
	a.state, a.data = appendDone, nil
	delete(f.pending[mailbox], name)
	return true, a, 0
}

// renamePendingName moves a pending file to a new name in its folder.
func (f *FS) renamePendingName(mailbox, name, newName string) syscall.Errno {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.pending[mailbox][name]
	if a == nil {
		return syscall.ENOENT
	}
	if f.pending[mailbox][newName] != nil {
		return syscall.EEXIST
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state != appendWriting {
		return syscall.EBUSY
	}
	delete(f.pending[mailbox], name)
	f.pending[mailbox][newName] = a
	a.name = newName
	return 0
}
