package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// lookupSearch answers FOLDER/.search (and MOUNT/.search for all folders).
func (n *FolderNode) lookupSearch(ctx context.Context, d *mailboxDir, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.ENOENT
}
