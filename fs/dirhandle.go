package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// dirHandle is an open directory whose entries are made on the first
// read, as go-fuse does for a NodeReaddirer; nodes return it from
// OpendirHandle to choose how the kernel caches the listing and what
// READDIRPLUS tells it.
type dirHandle struct {
	list func(context.Context) (gofs.DirStream, syscall.Errno)
	ds   gofs.DirStream
}

var (
	_ gofs.FileReaddirenter = (*dirHandle)(nil)
	_ gofs.FileSeekdirer    = (*dirHandle)(nil)
	_ gofs.FileReleasedirer = (*dirHandle)(nil)
)

func (d *dirHandle) stream(ctx context.Context) syscall.Errno {
	if d.ds != nil {
		return 0
	}
	ds, errno := d.list(ctx)
	if errno != 0 {
		return errno
	}
	d.ds = ds
	return 0
}

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if errno := d.stream(ctx); errno != 0 {
		return nil, errno
	}
	if !d.ds.HasNext() {
		return nil, 0
	}
	e, errno := d.ds.Next()
	return &e, errno
}

func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if errno := d.stream(ctx); errno != 0 {
		return errno
	}
	if sd, ok := d.ds.(gofs.FileSeekdirer); ok {
		return sd.Seekdir(ctx, off)
	}
	return syscall.ENOTSUP
}

func (d *dirHandle) Releasedir(ctx context.Context, flags uint32) {
	if d.ds != nil {
		d.ds.Close()
	}
}

// namesOnlyHandle lists a folder's names without their attributes: with
// READDIRPLUS the kernel would otherwise be handed a node for every
// entry, and `ls` of 100,000 messages would build 100,000 message nodes
// it never uses. An entry answered without a node (node ID 0) is only a
// name to the kernel, which looks it up when it is used, as after a plain
// READDIR.
type namesOnlyHandle struct{ dirHandle }

var _ gofs.FileLookuper = (*namesOnlyHandle)(nil)

func (*namesOnlyHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.ENOENT
}

// cachedListing are the open flags of a directory whose listing never
// changes: the kernel keeps it, and a second grep -r or find lists the
// directory without asking.
const cachedListing = fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE
