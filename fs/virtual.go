package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Virtual names: besides mailboxes and UIDs, a folder answers to a few
// names of its own. They are hidden (not listed, so rm -rf FOLDER/*, find
// -delete and cp -r never meet them) but reachable. A real mailbox with the
// same name wins: Lookup tries mailboxes first.
const (
	virtualIndex  = ".index"  // one line per message (index.go)
	virtualSearch = ".search" // server-side search directories (search.go)
	virtualStatus = ".imapfs" // the mount's own status, at the root
)

func isVirtualName(name string) bool {
	return name == virtualIndex || name == virtualSearch || name == virtualStatus
}

func (n *FolderNode) lookupVirtual(ctx context.Context, d *mailboxDir, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	switch {
	case name == virtualSearch:
		return n.lookupSearch(ctx, d, out)
	case name == virtualIndex && d.selectable():
		return n.lookupIndex(ctx, d, out)
	case name == virtualStatus && n.path() == "":
		return n.lookupStatus(ctx, out)
	}
	return nil, syscall.ENOENT
}
