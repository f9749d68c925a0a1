package fs

import (
	"context"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// FolderNode is a directory of the mailbox hierarchy: the root, a
// mailbox, or a parent that only holds mailboxes. A selectable mailbox
// lists its messages beside its child mailboxes.
type FolderNode struct {
	gofs.Inode
	fsys *FS
}

var (
	_ gofs.NodeLookuper  = (*FolderNode)(nil)
	_ gofs.NodeReaddirer = (*FolderNode)(nil)
	_ gofs.NodeGetattrer = (*FolderNode)(nil)

	_ gofs.NodeOpendirHandler = (*FolderNode)(nil)
)

// path is where the folder stands in the mailbox tree: escaped names
// joined by "/", "" for the root. It is read from the inode tree rather
// than kept, so that it follows renames.
func (n *FolderNode) path() string { return n.Path(nil) }

// dir finds this folder in the mailbox tree.
func (n *FolderNode) dir(ctx context.Context, maxAge time.Duration) (*mailboxDir, syscall.Errno) {
	t, err := n.fsys.mailboxTree(ctx, maxAge)
	if err != nil {
		return nil, n.fsys.errno("list mailboxes", err)
	}
	d := t.find(n.path())
	if d == nil {
		return nil, syscall.ENOENT // deleted on the server
	}
	return d, 0
}

func (n *FolderNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fsys.folderAttr(&out.Attr)
	return 0
}

func (f *FS) folderAttr(a *fuse.Attr) {
	a.Mode = syscall.S_IFDIR | f.mode(0o755)
	a.Nlink = 2
	a.SetTimes(nil, &f.mounted, &f.mounted)
}

// OpendirHandle lists the folder by name only (see namesOnlyHandle); its
// entries come and go with the mail, so the kernel keeps no copy.
func (n *FolderNode) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	return &namesOnlyHandle{dirHandle{list: n.Readdir}}, 0, 0
}

func (n *FolderNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	d, errno := n.dir(ctx, n.fsys.treeTTL())
	if errno != 0 {
		return nil, errno
	}
	entries := make([]fuse.DirEntry, 0, len(d.names))
	for _, name := range d.names {
		entries = append(entries, fuse.DirEntry{Name: name, Mode: syscall.S_IFDIR})
	}
	var drafts []string
	if d.mailbox != nil {
		drafts, _ = n.fsys.draftsIn(d.mailbox.Name)
		for _, name := range drafts {
			entries = append(entries, fuse.DirEntry{Name: name, Mode: syscall.S_IFDIR})
		}
	}
	if d.selectable() {
		for _, name := range n.fsys.pendingIn(d.mailbox.Name) {
			entries = append(entries, fuse.DirEntry{Name: name, Mode: syscall.S_IFREG})
		}
		snap, err := n.fsys.snapshot(ctx, d.mailbox.Name, n.fsys.listTTL)
		if err != nil {
			return nil, n.fsys.errno("list "+d.mailbox.Name, err)
		}
		for _, m := range snap.Messages {
			name := strconv.FormatUint(uint64(m.UID), 10)
			if d.children[name] != nil || slices.Contains(drafts, name) {
				continue // a child mailbox or pending message of that name wins
			}
			entries = append(entries, fuse.DirEntry{Name: name, Mode: syscall.S_IFDIR})
		}
	}
	return gofs.NewListDirStream(entries), 0
}

func (n *FolderNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	// A burst of lookups (ls -l, find) is served from the tree and the
	// snapshot already held; only a name they lack is worth asking the
	// server about again, and then at most once per ListTTL.
	d, errno := n.dir(ctx, immutableTimeout)
	if errno != 0 {
		return nil, errno
	}
	if d.mailbox != nil && d.children[name] == nil {
		if m := n.fsys.lookupDraft(d.mailbox.Name, name); m != nil {
			m.touch()
			m.root.attr(&out.Attr)
			out.SetEntryTimeout(0)
			out.SetAttrTimeout(0)
			return &m.root.Inode, 0
		}
	}
	if _, isUID := parseUID(name); d.children[name] == nil && !(isUID && d.selectable()) {
		if d, errno = n.dir(ctx, n.fsys.listTTL); errno != 0 {
			return nil, errno
		}
	}
	if child := d.children[name]; child != nil {
		in := n.lookupFolder(ctx, name, out)
		if child.mailbox != nil {
			n.fsys.registerFolder(child.mailbox.Name, in)
		}
		return in, 0
	}
	if isVirtualName(name) {
		return n.lookupVirtual(ctx, d, name, out)
	}
	if d.selectable() {
		if a := n.fsys.lookupPending(d.mailbox.Name, name); a != nil {
			a.attr(&out.Attr)
			return &a.Inode, 0
		}
	}
	uid, ok := parseUID(name)
	if !ok || !d.selectable() {
		return nil, syscall.ENOENT
	}
	return n.lookupMessage(ctx, d.mailbox.Name, name, uid, out)
}

func (n *FolderNode) lookupFolder(ctx context.Context, name string, out *fuse.EntryOut) *gofs.Inode {
	n.fsys.folderAttr(&out.Attr)
	out.SetEntryTimeout(n.fsys.listTTL)
	out.SetAttrTimeout(n.fsys.listTTL)
	if existing := n.GetChild(name); existing != nil {
		if _, ok := existing.Operations().(*FolderNode); ok {
			return existing
		}
	}
	node := &FolderNode{fsys: n.fsys}
	return n.NewInode(ctx, node, gofs.StableAttr{Mode: syscall.S_IFDIR})
}

func (n *FolderNode) lookupMessage(ctx context.Context, mailbox, name string, uid imap.UID, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	snap, err := n.fsys.snapshot(ctx, mailbox, immutableTimeout)
	if err != nil {
		return nil, n.fsys.errno("list "+mailbox, err)
	}
	info, found := snap.Find(uid)
	if !found && uid >= snap.UIDNext {
		// Possibly mail that arrived after the snapshot.
		if snap, err = n.fsys.snapshot(ctx, mailbox, n.fsys.listTTL); err != nil {
			return nil, n.fsys.errno("list "+mailbox, err)
		}
		info, found = snap.Find(uid)
	}
	if !found {
		return nil, syscall.ENOENT
	}
	out.SetEntryTimeout(n.fsys.listTTL)
	out.SetAttrTimeout(immutableTimeout)
	if existing := n.GetChild(name); existing != nil {
		if m, ok := existing.Operations().(*MessageNode); ok && m.uidValidity == snap.UIDValidity && m.mailbox == mailbox {
			m.attr(&out.Attr)
			return existing, 0
		}
	}
	node := &MessageNode{fsys: n.fsys, mailbox: mailbox, uidValidity: snap.UIDValidity, info: info}
	node.attr(&out.Attr)
	n.fsys.messageNodes.Add(1)
	return n.NewInode(ctx, node, gofs.StableAttr{Mode: syscall.S_IFDIR}), 0
}

// parseUID accepts the canonical decimal form only, so that "0042" and
// "42" are not two names for one message.
func parseUID(name string) (imap.UID, bool) {
	if name == "" || name[0] == '0' || len(name) > 10 {
		return 0, false
	}
	v, err := strconv.ParseUint(name, 10, 32)
	if err != nil {
		return 0, false
	}
	return imap.UID(v), true
}
