package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/imapfs/imapfs/imapbackend"
)

// AttachmentsNode is MSGDIR/attachments/: the message's attachments as
// regular files under their decoded, made-safe names, so that
// `cp MSGDIR/attachments/* ~/Downloads/` is the whole job. Each file is
// the same part as its numbered file and shares its cache entry.
type AttachmentsNode struct {
	gofs.Inode
	msg *MessageNode
}

var (
	_ gofs.NodeLookuper       = (*AttachmentsNode)(nil)
	_ gofs.NodeReaddirer      = (*AttachmentsNode)(nil)
	_ gofs.NodeGetattrer      = (*AttachmentsNode)(nil)
	_ gofs.NodeOpendirHandler = (*AttachmentsNode)(nil)
	_ gofs.NodeUnlinker       = (*AttachmentsNode)(nil)
)

// attachments returns the message's structure and its attachments, named
// the first time any of them is asked for (see namedAttachments).
func (m *MessageNode) attachments(ctx context.Context) (*imapbackend.Structure, *attachmentIndex, error) {
	e, err := m.structEntry(ctx)
	if err != nil {
		return nil, nil, err
	}
	return e.st, e.names.get(e.st.Parts), nil
}

func (m *MessageNode) lookupAttachments(ctx context.Context, list *attachmentIndex, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if len(list.list) == 0 || m.stage.hidden(dirAttachments, m.fsys.stageTimeout) {
		return nil, syscall.ENOENT
	}
	m.attr(&out.Attr)
	out.SetEntryTimeout(immutableTimeout)
	out.SetAttrTimeout(immutableTimeout)
	if child := m.GetChild(dirAttachments); child != nil {
		if _, ok := child.Operations().(*AttachmentsNode); ok {
			return child, 0
		}
	}
	return m.NewInode(ctx, &AttachmentsNode{msg: m}, gofs.StableAttr{Mode: syscall.S_IFDIR}), 0
}

func (a *AttachmentsNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	a.msg.attr(&out.Attr)
	out.SetTimeout(immutableTimeout)
	return 0
}

func (a *AttachmentsNode) list(ctx context.Context) (*imapbackend.Structure, *attachmentIndex, syscall.Errno) {
	st, list, err := a.msg.attachments(ctx)
	if err != nil {
		return nil, nil, a.msg.fsys.errno(a.msg.describe(), err)
	}
	return st, list, 0
}

func (a *AttachmentsNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	_, list, errno := a.list(ctx)
	if errno != 0 {
		return nil, errno
	}
	entries := make([]fuse.DirEntry, 0, len(list.list))
	for _, at := range list.list {
		if !a.msg.stage.hidden(dirAttachments+"/"+at.name, a.msg.fsys.stageTimeout) {
			entries = append(entries, fuse.DirEntry{Name: at.name, Mode: syscall.S_IFREG})
		}
	}
	return gofs.NewListDirStream(entries), 0
}

func (a *AttachmentsNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	st, list, errno := a.list(ctx)
	if errno != 0 {
		return nil, errno
	}
	if a.msg.stage.hidden(dirAttachments+"/"+name, a.msg.fsys.stageTimeout) {
		return nil, syscall.ENOENT
	}
	part := list.byName[name]
	if part == nil {
		return nil, syscall.ENOENT
	}
	file := &SectionFile{msg: a.msg, section: part.Section, part: part}
	var existing *gofs.Inode
	if child := a.GetChild(name); child != nil {
		if f, ok := child.Operations().(*SectionFile); ok {
			existing, file = child, f
		}
	}
	if err := file.attr(ctx, st, &out.Attr); err != nil {
		return nil, a.msg.fsys.errno(file.describe(), err)
	}
	out.SetAttrTimeout(immutableTimeout)
	out.SetEntryTimeout(immutableTimeout)
	if existing != nil {
		return existing, 0
	}
	return a.NewInode(ctx, file, gofs.StableAttr{Mode: syscall.S_IFREG}), 0
}

// OpendirHandle and Unlink take part in a whole-message removal (see
// stage.go); the listing is cached as the message directory's is.
func (a *AttachmentsNode) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if pid, ok := callerPID(ctx); ok {
		a.msg.stage.noteListing(pid)
	}
	return &dirHandle{list: a.Readdir}, a.msg.stage.listingFlags(), 0
}

func (a *AttachmentsNode) Unlink(ctx context.Context, name string) syscall.Errno {
	if a.msg.fsys.readOnly {
		return syscall.EROFS
	}
	pid, ok := callerPID(ctx)
	if !ok || !a.msg.stage.stage(pid, dirAttachments+"/"+name) {
		return syscall.EPERM
	}
	return 0
}
