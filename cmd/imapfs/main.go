// Command imapfs mounts an IMAP account as a directory tree: mailboxes are
// directories, each message is a directory named by its UID, holding
// HEADER, TEXT and one file per MIME part.
//
//	imapfs mount [options] URL MOUNTPOINT
//	imapfs mount [options] ACCOUNT MOUNTPOINT
//	imapfs unmount [--lazy] MOUNTPOINT
//	imapfs demo [MOUNTPOINT]
//	imapfs version
//
// Installed (or linked) as mount.imapfs, it is the helper mount(8) runs
// for file systems of type imapfs: mount.imapfs SOURCE DIR [-o OPTIONS].
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "devel"

const usage = `imapfs mounts an IMAP account as a directory tree.

Usage:
  imapfs mount [options] URL MOUNTPOINT       mount an account (imapfs mount --help)
  imapfs mount [options] ACCOUNT MOUNTPOINT   mount an account of the configuration file
  imapfs unmount [--lazy] MOUNTPOINT          unmount it (imapfs unmount --help)
  imapfs status MOUNTPOINT                    what the mount is doing (MOUNTPOINT/.imapfs/status)
  imapfs demo [MOUNTPOINT]                    mount built-in sample mail (default ./mail)
  imapfs version                              print the version
  imapfs help COMMAND                         explain a command

URL is imaps://USER@HOST[:993], imap://USER@HOST[:143] (STARTTLS required)
or imap+insecure://USER@HOST[:PORT]. The password comes from IMAPFS_PASSWORD,
--password-file or --password-command, never from the command line.
Accounts are defined in ~/.config/imapfs/config.toml.

Linked as /sbin/mount.imapfs, imapfs is the helper of mount -t imapfs and of
imapfs lines in /etc/fstab (mount.imapfs --help).

Examples:
  imapfs mount --password-command 'pass show mail' imaps://me%40example.org@imap.example.org ~/mail
  imapfs mount --daemon work ~/mail/work
  imapfs unmount ~/mail/work
`

const versionUsage = `Usage: imapfs version

Prints "imapfs VERSION" and exits.

Example:
  imapfs version
`

func main() {
	if isHelperName(os.Args[0]) {
		os.Exit(runHelperMain(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// isHelperName tells whether imapfs runs as a mount helper: mount.imapfs
// on Linux, mount_imapfs on macOS and the BSDs.
func isHelperName(arg0 string) bool {
	base := filepath.Base(arg0)
	return base == "mount.imapfs" || base == "mount_imapfs"
}

// usageError is an error in the command line itself: exit status 2.
type usageError struct{ error }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "mount":
		err = runMount(args[1:], stdout, stderr)
	case "unmount", "umount":
		err = runUnmount(args[1:], stdout, stderr)
	case "demo":
		err = runDemo(args[1:], stdout, stderr)
	case "status":
		err = runStatus(args[1:], stdout, stderr)
	case "version", "--version":
		if len(args) > 1 && (args[1] == "-h" || args[1] == "--help") {
			fmt.Fprint(stdout, versionUsage)
			return 0
		}
		fmt.Fprintf(stdout, "imapfs %s\n", version)
	case "help", "-h", "--help":
		if len(args) > 1 && args[0] == "help" {
			return run([]string{args[1], "--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "imapfs: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "imapfs: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "imapfs: %v\n", err)
		return 1
	}
}
