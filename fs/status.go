package fs

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// MOUNT/.imapfs/status tells what the mount is doing: server, capabilities,
// connections, cache, traffic and errors. `imapfs status DIR` prints it.
// It holds no secret: the account URL never carries a password.

const statusFile = "status"

// errorLog counts the errors reported to programs and keeps the last one.
type errorLog struct {
	count atomic.Int64
	last  atomic.Pointer[string]
}

func (e *errorLog) note(op string, err error) {
	e.count.Add(1)
	line := fmt.Sprintf("%s %s: %v", time.Now().UTC().Format(time.RFC3339), op, err)
	e.last.Store(&line)
}

// StatusDir is MOUNT/.imapfs/.
type StatusDir struct {
	gofs.Inode
	fsys *FS
}

// StatusFile is MOUNT/.imapfs/status, made afresh at each open.
type StatusFile struct {
	gofs.Inode
	fsys *FS
}

var (
	_ gofs.NodeLookuper  = (*StatusDir)(nil)
	_ gofs.NodeReaddirer = (*StatusDir)(nil)
	_ gofs.NodeOpener    = (*StatusFile)(nil)
	_ gofs.NodeGetattrer = (*StatusFile)(nil)
)

func (n *FolderNode) lookupStatus(ctx context.Context, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	n.fsys.folderAttr(&out.Attr)
	out.Attr.Mode = syscall.S_IFDIR | 0o555
	if child := n.GetChild(virtualStatus); child != nil {
		if _, ok := child.Operations().(*StatusDir); ok {
			return child, 0
		}
	}
	return n.NewInode(ctx, &StatusDir{fsys: n.fsys}, gofs.StableAttr{Mode: syscall.S_IFDIR}), 0
}

func (d *StatusDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	return gofs.NewListDirStream([]fuse.DirEntry{{Name: statusFile, Mode: syscall.S_IFREG}}), 0
}

func (d *StatusDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if name != statusFile {
		return nil, syscall.ENOENT
	}
	out.Attr.Mode = syscall.S_IFREG | 0o444
	out.SetAttrTimeout(0)
	out.SetEntryTimeout(time.Hour)
	if child := d.GetChild(name); child != nil {
		return child, 0
	}
	return d.NewInode(ctx, &StatusFile{fsys: d.fsys}, gofs.StableAttr{Mode: syscall.S_IFREG}), 0
}

func (f *StatusFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Attr.Mode = syscall.S_IFREG | 0o444
	out.SetTimeout(0)
	return 0
}

func (f *StatusFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, 0, syscall.EACCES
	}
	return &contentHandle{data: []byte(f.fsys.statusText())}, fuse.FOPEN_DIRECT_IO | noFlush, 0
}

func (f *FS) statusText() string {
	s := f.backend.Stats()
	c := f.cache.Stats()
	var b strings.Builder
	fmt.Fprintf(&b, "server:       %s\n", f.fsName)
	mode := "read-write"
	if f.readOnly {
		mode = "read-only"
	}
	fmt.Fprintf(&b, "mounted:      %s, %s\n", f.mounted.UTC().Format(time.RFC3339), mode)
	fmt.Fprintf(&b, "capabilities: %s\n", strings.Join(s.Caps, " "))
	fmt.Fprintf(&b, "connections:  %d open, %d at most, %d made\n", s.Open, s.MaxConns, s.Dialled)
	hitRate := 0.0
	if c.Hits+c.Misses > 0 {
		hitRate = 100 * float64(c.Hits) / float64(c.Hits+c.Misses)
	}
	fmt.Fprintf(&b, "cache:        %s of %s in %d entries, hit rate %.0f%% (%d hits, %d misses)\n",
		mib(c.Bytes), mib(f.cache.Budget()), c.Entries, hitRate, c.Hits, c.Misses)
	f.mu.Lock()
	listed := 0
	for _, s := range f.snaps {
		listed += len(s.Messages)
	}
	folders := len(f.snaps)
	f.mu.Unlock()
	fmt.Fprintf(&b, "messages:     %d listed in %d folders, %d directories looked up\n", listed, folders, f.messageNodes.Load())
	fmt.Fprintf(&b, "traffic:      %s received, %s sent, %d operations\n", mib(s.BytesIn), mib(s.BytesOut), s.Operations)
	fmt.Fprintf(&b, "errors:       %d\n", f.errors.count.Load())
	if last := f.errors.last.Load(); last != nil {
		fmt.Fprintf(&b, "last error:   %s\n", *last)
	}
	return b.String()
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
