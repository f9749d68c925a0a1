// Command imapfs mounts an IMAP account as a directory tree: mailboxes are
// directories, each message is a directory named by its UID, holding
// HEADER, TEXT and one file per MIME part.
//
//	imapfs mount [options] URL MOUNTPOINT
//	imapfs demo [MOUNTPOINT]
//	imapfs version
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "devel"

const usage = `imapfs mounts an IMAP account as a directory tree.

Usage:
  imapfs mount [options] URL MOUNTPOINT   mount an account (imapfs mount --help)
  imapfs demo [MOUNTPOINT]                mount built-in sample mail (default ./mail)
  imapfs version                          print the version

URL is imaps://USER@HOST[:993], imap://USER@HOST[:143] (STARTTLS required)
or imap+insecure://USER@HOST[:PORT]. The password comes from IMAPFS_PASSWORD,
--password-file or --password-command, never from the command line.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
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
		err = runMount(args[1:], stderr)
	case "demo":
		err = runDemo(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintf(stdout, "imapfs %s\n", version)
	case "help", "-h", "--help":
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
