package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// checkImapfsMount makes sure dir is an imapfs mount, by its entry in
// /proc/self/mountinfo (type fuse.imapfs), so that imapfs unmount never
// unmounts something else.
func checkImapfsMount(dir string) error {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	fstype := ""
	for _, line := range strings.Split(string(data), "\n") {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPEROPTIONS
		fields := strings.Fields(line)
		if len(fields) < 5 || unescapeMountinfo(fields[4]) != dir {
			continue
		}
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) {
				fstype = fields[i+1] // the last entry for dir is the one on top
			}
		}
	}
	switch fstype {
	case "":
		return fmt.Errorf("%s is not mounted", dir)
	case "fuse.imapfs":
		return nil
	default:
		return fmt.Errorf("%s is not an imapfs mount (it is %s); use umount", dir, fstype)
	}
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of
// /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmount unmounts dir: with umount(2) as root, with fusermount3 (which is
// setuid and checks that the mount is the caller's) otherwise.
func unmount(dir string, lazy bool) error {
	if os.Geteuid() == 0 {
		flags := 0
		if lazy {
			flags = syscall.MNT_DETACH
		}
		err := syscall.Unmount(dir, flags)
		if errors.Is(err, syscall.EBUSY) {
			return errBusy
		}
		if err != nil {
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
		return nil
	}
	args := []string{"-u"}
	if lazy {
		args = append(args, "-z")
	}
	cmd := exec.Command("fusermount3", append(args, dir)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := oneLine(stderr.String())
		if strings.Contains(msg, "Device or resource busy") {
			return errBusy
		}
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("unmount %s: %s", dir, msg)
	}
	return nil
}

// lazyUnmount detaches a busy mount: it disappears from the namespace now
// and the kernel finishes once the last file in it is closed.
func lazyUnmount(dir string) {
	if os.Geteuid() == 0 {
		syscall.Unmount(dir, syscall.MNT_DETACH)
		return
	}
	exec.Command("fusermount3", "-u", "-z", dir).Run()
}
