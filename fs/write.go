package fs

import (
	"context"
	"errors"
	"strings"
	"syscall"

	"github.com/emersion/go-imap/v2"
	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/imapfs/imapfs/imapbackend"
)

// The changes a folder accepts: mkdir and rmdir of mailboxes, rmdir of a
// message directory (deletes the message), rename of mailboxes and moves
// of messages between folders. Appends are in append.go.

var (
	_ gofs.NodeMkdirer  = (*FolderNode)(nil)
	_ gofs.NodeRmdirer  = (*FolderNode)(nil)
	_ gofs.NodeRenamer  = (*FolderNode)(nil)
	_ gofs.NodeUnlinker = (*FolderNode)(nil)
)

// Mkdir creates a mailbox.
func (n *FolderNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if n.fsys.readOnly {
		return nil, syscall.EROFS
	}
	t, err := n.fsys.mailboxTree(ctx, 0)
	if err != nil {
		return nil, n.fsys.errno("list mailboxes", err)
	}
	if t.find(n.path()) == nil {
		return nil, syscall.ENOENT
	}
	d := t.find(n.path())
	if d.children[name] != nil {
		return nil, syscall.EEXIST
	}
	if _, isUID := parseUID(name); isUID && d.mailbox != nil {
		// cp -r of a message directory: a message, not a mailbox.
		return n.mkdirDraft(ctx, d, name, out)
	}
	full, ok := t.childName(n.path(), name)
	if !ok {
		return nil, syscall.EINVAL
	}
	if err := n.fsys.backend.CreateMailbox(ctx, full); err != nil {
		return nil, n.fsys.errno("mkdir", err)
	}
	n.fsys.forgetTree()
	return n.lookupFolder(ctx, name, out), 0
}

// Rmdir deletes a message (a UID directory: rmdir, rm -r, find -delete) or
// an empty mailbox.
func (n *FolderNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	if n.fsys.readOnly {
		return syscall.EROFS
	}
	d, errno := n.dir(ctx, n.fsys.listTTL)
	if errno != 0 {
		return errno
	}
	if child := d.children[name]; child != nil {
		return n.removeMailbox(ctx, child)
	}
	if d.mailbox != nil {
		if m := n.fsys.lookupDraft(d.mailbox.Name, name); m != nil {
			// A pending message directory (rm -r of an unfinished cp -r).
			if len(m.root.Children()) > 0 {
				return syscall.ENOTEMPTY
			}
			m.remove()
			return 0
		}
	}
	uid, ok := parseUID(name)
	if !ok || !d.selectable() {
		return syscall.ENOENT
	}
	mailbox := d.mailbox.Name
	snap, err := n.fsys.snapshot(ctx, mailbox, immutableTimeout)
	if err != nil {
		return n.fsys.errno("list "+mailbox, err)
	}
	if _, found := snap.Find(uid); !found {
		return syscall.ENOENT
	}
	done := n.fsys.changingHere(mailbox)
	err = n.fsys.backend.DeleteMessage(ctx, mailbox, snap.UIDValidity, uid)
	done(err == nil)
	if err != nil {
		return n.fsys.errno("rmdir", err)
	}
	n.fsys.removeFromSnapshot(mailbox, uid)
	return 0
}

// removeMailbox deletes a mailbox only when it is empty: DELETE would take
// its messages with it. STATUS answers the common case at once; the
// backend's delete makes sure of it against mail delivered meanwhile.
func (n *FolderNode) removeMailbox(ctx context.Context, d *mailboxDir) syscall.Errno {
	if len(d.children) > 0 {
		return syscall.ENOTEMPTY
	}
	if d.mailbox == nil {
		return syscall.ENOENT // an implied parent: nothing on the server
	}
	// A pending message directory whose message is appended is no longer
	// listed, and does not keep its folder.
	if drafts, _ := n.fsys.draftsIn(d.mailbox.Name); len(drafts) > 0 {
		return syscall.ENOTEMPTY
	}
	if d.selectable() {
		count, err := n.fsys.backend.MessageCount(ctx, d.mailbox.Name)
		if err != nil {
			return n.fsys.errno("rmdir", err)
		}
		if count > 0 || len(n.fsys.pendingIn(d.mailbox.Name)) > 0 {
			return syscall.ENOTEMPTY
		}
	}
	if strings.EqualFold(d.mailbox.Name, "INBOX") {
		return syscall.EPERM // IMAP never deletes INBOX
	}
	if err := n.fsys.backend.DeleteMailbox(ctx, d.mailbox.Name); err != nil {
		if errors.Is(err, imapbackend.ErrMailboxNotEmpty) {
			n.fsys.forgetTree() // a child may have appeared, too
			return syscall.ENOTEMPTY
		}
		return n.fsys.errno("rmdir", err)
	}
	n.fsys.forgetTree()
	n.fsys.dropMailbox(d.mailbox.Name)
	return 0
}

// Unlink in a folder: only a file being appended can be removed; message
// directories go with rmdir.
func (n *FolderNode) Unlink(ctx context.Context, name string) syscall.Errno {
	if n.fsys.readOnly {
		return syscall.EROFS
	}
	d, errno := n.dir(ctx, immutableTimeout)
	if errno != 0 {
		return errno
	}
	if d.selectable() {
		if found, errno := n.fsys.unlinkPending(d.mailbox.Name, name); found {
			return errno
		}
	}
	if d.children[name] != nil {
		return syscall.EISDIR
	}
	if _, isUID := parseUID(name); isUID {
		return syscall.EISDIR
	}
	return syscall.ENOENT
}

// Rename renames a mailbox (anywhere in the hierarchy) or moves a message
// to another folder, where it appears under a new UID.
func (n *FolderNode) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if n.fsys.readOnly {
		return syscall.EROFS
	}
	if flags&renameExchange != 0 {
		return syscall.EINVAL
	}
	dst, ok := newParent.(*FolderNode)
	if !ok {
		return syscall.EPERM // into a message directory
	}
	t, err := n.fsys.mailboxTree(ctx, n.fsys.listTTL)
	if err != nil {
		return n.fsys.errno("list mailboxes", err)
	}
	src := t.find(n.path())
	dstDir := t.find(dst.path())
	if src == nil || dstDir == nil {
		return syscall.ENOENT
	}
	if child := src.children[name]; child != nil {
		return n.renameMailbox(ctx, t, name, child, dst, newName)
	}
	if src.mailbox != nil && n.fsys.lookupDraft(src.mailbox.Name, name) != nil {
		return syscall.EPERM // a pending message has nothing to move yet
	}
	if src.selectable() {
		if a := n.fsys.lookupPending(src.mailbox.Name, name); a != nil {
			return n.renamePending(ctx, a, src, dstDir, newName)
		}
		if uid, isUID := parseUID(name); isUID {
			return n.moveMessage(ctx, src, uid, dst, dstDir, newName)
		}
	}
	return syscall.ENOENT
}

// renameExchange is RENAME_EXCHANGE of renameat2(2): swapping two mailboxes
// or messages has no IMAP meaning.
const renameExchange = 0x2

func (n *FolderNode) renameMailbox(ctx context.Context, t *mailboxTree, name string, child *mailboxDir, dst *FolderNode, newName string) syscall.Errno {
	if child.mailbox == nil {
		return syscall.EPERM // an implied parent: nothing on the server to rename
	}
	if d := t.find(dst.path()); d != nil && d.children[newName] != nil {
		return syscall.EEXIST
	}
	full, ok := t.childName(dst.path(), newName)
	if !ok {
		return syscall.EINVAL
	}
	old := child.mailbox.Name
	if err := n.fsys.backend.RenameMailbox(ctx, old, full); err != nil {
		return n.fsys.errno("rename", err)
	}
	n.fsys.forgetTree()
	n.fsys.dropMailbox(old)
	if moved := n.GetChild(name); moved != nil {
		forgetDescendants(moved)
	}
	return 0
}

// moveMessage moves a message to the folder dst. The name it was given
// there does not stay: the message appears under its new UID, so the
// kernel's entry for newName is dropped once the rename is done.
func (n *FolderNode) moveMessage(ctx context.Context, src *mailboxDir, uid imap.UID, dst *FolderNode, dstDir *mailboxDir, newName string) syscall.Errno {
	if !dstDir.selectable() {
		return syscall.EPERM // a \Noselect directory holds no messages
	}
	if dstDir == src {
		return syscall.EPERM // IMAP has no way to rename a message
	}
	mailbox := src.mailbox.Name
	snap, err := n.fsys.snapshot(ctx, mailbox, immutableTimeout)
	if err != nil {
		return n.fsys.errno("list "+mailbox, err)
	}
	if _, found := snap.Find(uid); !found {
		return syscall.ENOENT
	}
	doneSrc, doneDst := n.fsys.changingHere(mailbox), n.fsys.changingHere(dstDir.mailbox.Name)
	_, err = n.fsys.backend.MoveMessage(ctx, mailbox, snap.UIDValidity, uid, dstDir.mailbox.Name)
	doneSrc(err == nil)
	doneDst(err == nil)
	if err != nil {
		return n.fsys.errno("mv", err)
	}
	n.fsys.removeFromSnapshot(mailbox, uid)
	n.fsys.forgetSnapshot(dstDir.mailbox.Name)
	notify(&dst.Inode, newName)
	return 0
}
