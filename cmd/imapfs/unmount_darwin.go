package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// checkImapfsMount checks that dir is a mount point at all; macOS has no
// mountinfo to tell its type from.
func checkImapfsMount(dir string) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("mount point: %w", err)
	}
	parent, err := os.Lstat(dir + "/..")
	if err == nil {
		a, okA := st.Sys().(*syscall.Stat_t)
		b, okB := parent.Sys().(*syscall.Stat_t)
		if okA && okB && a.Dev == b.Dev {
			return fmt.Errorf("%s is not mounted", dir)
		}
	}
	return nil
}

// unmount unmounts dir with unmount(2), which macFUSE allows the user who
// mounted. There is no lazy unmount: --lazy forces it.
func unmount(dir string, lazy bool) error {
	flags := 0
	if lazy {
		flags = unix.MNT_FORCE
	}
	err := unix.Unmount(dir, flags)
	if errors.Is(err, syscall.EBUSY) {
		return errBusy
	}
	if err != nil {
		return fmt.Errorf("unmount %s: %w", dir, err)
	}
	return nil
}

// lazyUnmount forces a busy mount away; macOS cannot detach lazily.
func lazyUnmount(dir string) {
	unix.Unmount(dir, unix.MNT_FORCE)
}
