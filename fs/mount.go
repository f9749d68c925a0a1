package fs

import (
	"fmt"
	"os"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// MountOptions are the kernel-facing settings of a mount.
type MountOptions struct {
	// FsName is the source shown by mount(8) and df: the account URL.
	FsName string
	// Debug logs every FUSE request.
	Debug bool
	// AllowOther lets users other than the mounting one in.
	AllowOther bool
	// UID and GID, when set, own every node (--uid, --gid); by default the
	// mounting user does.
	UID, GID *uint32
}

// Mount mounts the file system at dir and returns once the kernel serves
// it. As root it uses the mount syscall; as a user it uses fusermount3.
func (f *FS) Mount(dir string, mo MountOptions) (*fuse.Server, error) {
	f.fsName = mo.FsName
	entry, attr := f.listTTL, f.listTTL
	negative := time.Duration(0) // a missing name may be new mail any moment
	opts := &gofs.Options{
		EntryTimeout:    &entry,
		AttrTimeout:     &attr,
		NegativeTimeout: &negative,
		UID:             idOr(mo.UID, os.Getuid()),
		GID:             idOr(mo.GID, os.Getgid()),
		Logger:          f.logger,
		MountOptions: fuse.MountOptions{
			FsName:      mo.FsName,
			Name:        "imapfs",
			Debug:       mo.Debug,
			AllowOther:  mo.AllowOther,
			DirectMount: os.Geteuid() == 0,
			// READDIRPLUS hands the kernel a message directory's files
			// with their attributes in the listing, sparing grep -r and
			// ls -l a LOOKUP per file. Folders answer it with names only
			// (namesOnlyHandle), so `ls` of 100,000 messages builds no
			// message node; `ls -l` looks each one up from the snapshot.
			// Reads of up to 1 MiB (the kernel's largest) rather than
			// 128 KiB: a streamed 100 MB attachment costs a few hundred
			// FUSE requests instead of eight hundred.
			MaxWrite:     1 << 20,
			MaxReadAhead: 1 << 20,
			// Mail is read, not executed or run as setuid.
			Options: mountFlags(f.readOnly),
			Logger:  f.logger,
		},
	}
	server, err := gofs.Mount(dir, f.Root(), opts)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	return server, nil
}

func mountFlags(readOnly bool) []string {
	flags := []string{"nosuid", "nodev", "noexec"}
	if readOnly {
		flags = append(flags, "ro")
	}
	return flags
}

func idOr(id *uint32, def int) uint32 {
	if id != nil {
		return *id
	}
	return uint32(def)
}
