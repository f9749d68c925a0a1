package fs

import (
	"context"
	"os"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// A directory made with an all-digit name inside a mailbox's directory is
// a pending message, never a mailbox (a mailbox with such a name is made
// under another name and renamed): `cp -r INBOX/5 Archive/` makes Archive/5
// and copies the message directory's files into it. Its message.eml is
// appended once, at its last close, like any file written into a folder;
// everything else cp writes there (HEADER, TEXT, the parts, attachments/)
// is accepted and dropped. Nothing but that APPEND reaches the server. The
// directory goes away once nothing in it is open or has been used for
// StageTimeout and the process that made it (cp) has exited; once its
// message is appended it is no longer listed.

// MessageDraft is one pending message directory.
type MessageDraft struct {
	fsys    *FS
	mailbox string
	name    string
	folder  *gofs.Inode
	root    *draftDir
	created time.Time
	// creator is the process that made the directory (cp): while it
	// runs the directory stays, however long it spends reading the next
	// file from a slow server.
	creator uint32
	// selectable is false in a \Noselect directory: its message.eml is
	// refused at once, since the server would refuse the APPEND.
	selectable bool

	mu      sync.Mutex
	opens   int
	message *AppendFile // its message.eml, once created
	sent    bool
	timer   *time.Timer
}

// draftDir is a pending message directory or a directory inside one
// (attachments/).
type draftDir struct {
	gofs.Inode
	draft *MessageDraft
	top   bool
}

// draftSink is any file but the top message.eml of a pending message: its
// bytes are dropped, so it stays empty.
type draftSink struct {
	gofs.Inode
	draft *MessageDraft
}

var (
	_ gofs.NodeLookuper   = (*draftDir)(nil)
	_ gofs.NodeReaddirer  = (*draftDir)(nil)
	_ gofs.NodeGetattrer  = (*draftDir)(nil)
	_ gofs.NodeSetattrer  = (*draftDir)(nil)
	_ gofs.NodeCreater    = (*draftDir)(nil)
	_ gofs.NodeMkdirer    = (*draftDir)(nil)
	_ gofs.NodeUnlinker   = (*draftDir)(nil)
	_ gofs.NodeRmdirer    = (*draftDir)(nil)
	_ gofs.NodeRenamer    = (*draftDir)(nil)
	_ gofs.NodeSetxattrer = (*draftDir)(nil)

	_ gofs.NodeGetattrer  = (*draftSink)(nil)
	_ gofs.NodeSetattrer  = (*draftSink)(nil)
	_ gofs.NodeOpener     = (*draftSink)(nil)
	_ gofs.NodeWriter     = (*draftSink)(nil)
	_ gofs.NodeReader     = (*draftSink)(nil)
	_ gofs.NodeReleaser   = (*draftSink)(nil)
	_ gofs.NodeSetxattrer = (*draftSink)(nil)
	_ gofs.NodeSetxattrer = (*AppendFile)(nil)
)

// mkdirDraft makes a pending message directory in folder d.
func (n *FolderNode) mkdirDraft(ctx context.Context, d *mailboxDir, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	mailbox := d.mailbox.Name
	if d.selectable() {
		uid, _ := parseUID(name)
		snap, err := n.fsys.snapshot(ctx, mailbox, n.fsys.listTTL)
		if err != nil {
			return nil, n.fsys.errno("list "+mailbox, err)
		}
		if _, found := snap.Find(uid); found {
			return nil, syscall.EEXIST
		}
	}
	m := &MessageDraft{fsys: n.fsys, mailbox: mailbox, name: name, folder: &n.Inode, created: time.Now(), selectable: d.selectable()}
	m.creator, _ = callerPID(ctx)
	m.root = &draftDir{draft: m, top: true}
	if !n.fsys.addDraft(m) {
		return nil, syscall.EEXIST
	}
	m.mu.Lock()
	m.timer = time.AfterFunc(n.fsys.stageTimeout, m.expire)
	m.mu.Unlock()
	m.root.attr(&out.Attr)
	out.SetEntryTimeout(0)
	out.SetAttrTimeout(0)
	return n.NewPersistentInode(ctx, m.root, gofs.StableAttr{Mode: syscall.S_IFDIR}), 0
}

// touch keeps the directory while cp works in it.
func (m *MessageDraft) touch() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.timer != nil {
		m.timer.Reset(m.fsys.stageTimeout)
	}
}

func (m *MessageDraft) opened() {
	m.mu.Lock()
	m.opens++
	m.mu.Unlock()
	m.touch()
}

func (m *MessageDraft) released() {
	m.mu.Lock()
	m.opens--
	m.mu.Unlock()
	m.touch()
}

// appended is called when message.eml is done with (appended, or dropped
// as empty or not a message): the directory is no longer listed.
func (m *MessageDraft) appended() {
	m.mu.Lock()
	m.sent = true
	m.mu.Unlock()
	m.touch()
}

func (m *MessageDraft) listed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.sent
}

// expire removes the directory once nothing in it is open or on its way
// to the server, and the process that made it has gone.
func (m *MessageDraft) expire() {
	m.mu.Lock()
	busy, message := m.opens > 0 || processAlive(m.creator), m.message
	m.mu.Unlock()
	if message != nil {
		message.mu.Lock()
		busy = busy || message.state == appendSending
		if !busy {
			if message.state == appendWriting && len(message.data) > 0 {
				m.fsys.logger.Printf("pending message %s in %q: message.eml was not appended; dropped", m.name, m.mailbox)
			}
			message.state, message.data = appendDone, nil
		}
		message.mu.Unlock()
	}
	if busy {
		m.touch()
		return
	}
	m.remove()
}

// processAlive reports whether pid still runs; false where /proc is
// missing, so that the directory's idle time alone decides there.
func processAlive(pid uint32) bool {
	if pid == 0 {
		return false
	}
	_, err := os.Stat("/proc/" + strconv.FormatUint(uint64(pid), 10))
	return err == nil
}

// remove forgets the directory and tells the kernel.
func (m *MessageDraft) remove() {
	if !m.fsys.dropDraft(m) {
		return
	}
	m.mu.Lock()
	if m.timer != nil {
		m.timer.Stop()
	}
	m.mu.Unlock()
	go func() {
		m.folder.NotifyEntry(m.name)
		if m.folder.GetChild(m.name) == &m.root.Inode {
			m.folder.RmChild(m.name)
		}
		dropPersistent(&m.root.Inode)
	}()
}

// dropPersistent lets go-fuse forget a subtree of persistent nodes once
// the kernel does.
func dropPersistent(in *gofs.Inode) {
	for _, child := range in.Children() {
		dropPersistent(child)
	}
	in.ForgetPersistent()
}

func (d *draftDir) attr(a *fuse.Attr) {
	a.Mode = syscall.S_IFDIR | d.draft.fsys.mode(0o755)
	a.Nlink = 2
	t := d.draft.created
	a.SetTimes(nil, &t, &t)
}

func (d *draftDir) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.draft.touch()
	d.attr(&out.Attr)
	out.SetTimeout(0)
	return 0
}

// Setattr accepts the mode and times cp -r sets on directories it made.
func (d *draftDir) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return d.Getattr(ctx, fh, out)
}

func (d *draftDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	d.draft.touch()
	child := d.GetChild(name)
	if child == nil {
		return nil, syscall.ENOENT
	}
	childAttr(child, &out.Attr)
	out.SetEntryTimeout(0)
	out.SetAttrTimeout(0)
	return child, 0
}

func childAttr(child *gofs.Inode, a *fuse.Attr) {
	switch c := child.Operations().(type) {
	case *draftDir:
		c.attr(a)
	case *draftSink:
		c.attr(a)
	case *AppendFile:
		c.attr(a)
	}
}

func (d *draftDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	d.draft.touch()
	children := d.Children()
	names := make([]string, 0, len(children))
	for name := range children {
		names = append(names, name)
	}
	sort.Strings(names)
	entries := make([]fuse.DirEntry, 0, len(names))
	for _, name := range names {
		entries = append(entries, fuse.DirEntry{Name: name, Mode: children[name].Mode()})
	}
	return gofs.NewListDirStream(entries), 0
}

// Create makes message.eml, the message to append, at the top; any other
// file is a sink.
func (d *draftDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	if d.GetChild(name) != nil {
		return nil, nil, 0, syscall.EEXIST
	}
	m := d.draft
	var node gofs.InodeEmbedder
	if d.top && name == fileMessage {
		if !m.selectable {
			return nil, nil, 0, syscall.EPERM // a \Noselect directory holds no messages
		}
		a := &AppendFile{fsys: m.fsys, mailbox: m.mailbox, name: name, created: time.Now(), opens: 1, dirty: true, draft: m}
		m.mu.Lock()
		if m.message != nil {
			m.mu.Unlock()
			return nil, nil, 0, syscall.EEXIST // one message per directory
		}
		m.message = a
		m.mu.Unlock()
		a.attr(&out.Attr)
		node = a
	} else {
		s := &draftSink{draft: m}
		s.attr(&out.Attr)
		node = s
	}
	m.opened()
	out.SetEntryTimeout(0)
	out.SetAttrTimeout(0)
	return d.NewPersistentInode(ctx, node, gofs.StableAttr{Mode: syscall.S_IFREG}), &appendHandle{}, fuse.FOPEN_DIRECT_IO, 0
}

func (d *draftDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if d.GetChild(name) != nil {
		return nil, syscall.EEXIST
	}
	d.draft.touch()
	sub := &draftDir{draft: d.draft}
	sub.attr(&out.Attr)
	out.SetEntryTimeout(0)
	out.SetAttrTimeout(0)
	return d.NewPersistentInode(ctx, sub, gofs.StableAttr{Mode: syscall.S_IFDIR}), 0
}

// Unlink drops a file; message.eml is then not appended, unless its
// APPEND is already on its way.
func (d *draftDir) Unlink(ctx context.Context, name string) syscall.Errno {
	d.draft.touch()
	child := d.GetChild(name)
	if child == nil {
		return syscall.ENOENT
	}
	if a, ok := child.Operations().(*AppendFile); ok {
		a.mu.Lock()
		sending := a.state == appendSending
		if !sending {
			a.state, a.data = appendDone, nil
		}
		a.mu.Unlock()
		if sending {
			return syscall.EBUSY
		}
		m := d.draft
		m.mu.Lock()
		if m.message == a {
			m.message = nil
		}
		m.mu.Unlock()
	}
	return 0
}

func (d *draftDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	d.draft.touch()
	child := d.GetChild(name)
	if child == nil {
		return syscall.ENOENT
	}
	if len(child.Children()) > 0 {
		return syscall.ENOTEMPTY
	}
	return 0
}

// Rename inside a pending message: nothing cp does.
func (d *draftDir) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return syscall.EPERM
}

func (s *draftSink) attr(a *fuse.Attr) {
	a.Mode = syscall.S_IFREG | s.draft.fsys.mode(0o644)
	a.Nlink = 1
	t := s.draft.created
	a.SetTimes(nil, &t, &t)
}

func (s *draftSink) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	s.draft.touch()
	s.attr(&out.Attr)
	out.SetTimeout(0)
	return 0
}

func (s *draftSink) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return s.Getattr(ctx, fh, out)
}

func (s *draftSink) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	s.draft.opened()
	return &appendHandle{}, fuse.FOPEN_DIRECT_IO, 0
}

// Write takes the bytes and drops them: only message.eml becomes mail.
func (s *draftSink) Write(ctx context.Context, fh gofs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	s.draft.touch()
	return uint32(len(data)), 0
}

func (s *draftSink) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return fuse.ReadResultData(nil), 0
}

func (s *draftSink) Release(ctx context.Context, fh gofs.FileHandle) syscall.Errno {
	s.draft.released()
	return 0
}

// Pending message directories, by mailbox.

func (f *FS) addDraft(m *MessageDraft) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.drafts == nil {
		f.drafts = make(map[string]map[string]*MessageDraft)
	}
	byName := f.drafts[m.mailbox]
	if byName == nil {
		byName = make(map[string]*MessageDraft)
		f.drafts[m.mailbox] = byName
	}
	if byName[m.name] != nil {
		return false
	}
	byName[m.name] = m
	return true
}

func (f *FS) lookupDraft(mailbox, name string) *MessageDraft {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.drafts[mailbox][name]
}

// draftsIn lists the pending message directories of a mailbox whose
// message is not appended yet, and says whether there is any at all.
func (f *FS) draftsIn(mailbox string) (listed []string, any bool) {
	f.mu.Lock()
	var all []*MessageDraft
	for _, m := range f.drafts[mailbox] {
		all = append(all, m)
	}
	f.mu.Unlock()
	for _, m := range all {
		if m.listed() {
			listed = append(listed, m.name)
		}
	}
	sort.Strings(listed)
	return listed, len(all) > 0
}

func (f *FS) dropDraft(m *MessageDraft) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.drafts[m.mailbox][m.name] != m {
		return false
	}
	delete(f.drafts[m.mailbox], m.name)
	return true
}

// Extended attributes on files and directories being written: none are
// kept. ENOTSUP, unlike go-fuse's default ENODATA, tells cp -p, cp -a and
// rsync -X that the file system has none, and they carry on.

func (d *draftDir) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return syscall.ENOTSUP
}

func (d *draftDir) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return syscall.ENOTSUP
}

func (s *draftSink) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return syscall.ENOTSUP
}

func (s *draftSink) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return syscall.ENOTSUP
}

func (a *AppendFile) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return syscall.ENOTSUP
}

func (a *AppendFile) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return syscall.ENOTSUP
}
