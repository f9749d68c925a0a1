package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
)

const unmountUsage = `Usage: imapfs unmount [--lazy] MOUNTPOINT

Unmounts the imapfs mount on MOUNTPOINT (as root with umount(2), otherwise
with fusermount3 -u); the imapfs process serving it then exits. It refuses a
directory that is not an imapfs mount. While a process has a file open or
its working directory in the mount, the mount is busy and stays; --lazy
detaches it at once and lets the kernel finish when the last file closes.

Examples:
  imapfs unmount ~/mail
  imapfs unmount --lazy ~/mail
  umount ~/mail                 also works, as does fusermount3 -u ~/mail

Options:
`

// errBusy is the kernel's EBUSY: something in the mount is in use.
var errBusy = errors.New("busy")

func runUnmount(args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("imapfs unmount", flag.ContinueOnError)
	flags.SetOutput(stderr)
	lazy := flags.Bool("lazy", false, "detach the mount now even if it is busy (umount -l)")
	flags.BoolVar(lazy, "z", false, "same as --lazy")
	flags.Usage = func() {
		fmt.Fprint(stderr, unmountUsage)
		flags.PrintDefaults()
	}
	pos, err := parseInterleaved(flags, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErrorf("%v (see imapfs unmount --help)", err)
	}
	if len(pos) != 1 {
		return usageErrorf("unmount needs MOUNTPOINT, got %d arguments (see imapfs unmount --help)", len(pos))
	}
	dir, err := mountPath(pos[0])
	if err != nil {
		return err
	}
	if err := checkImapfsMount(dir); err != nil {
		return err
	}
	err = unmount(dir, *lazy)
	if errors.Is(err, errBusy) {
		return fmt.Errorf("%s is busy: a process has a file open or its working directory in it (fuser -vm %s lists them); close them, or use imapfs unmount --lazy", dir, dir)
	}
	return err
}

// mountPath makes dir absolute and resolves symbolic links in its parent,
// without touching dir itself: a mount whose process died fails every
// access with ENOTCONN.
func mountPath(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	parent, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return "", fmt.Errorf("mount point: %w", err)
	}
	return filepath.Join(parent, filepath.Base(abs)), nil
}
