package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/imapfs/imapfs/cache"
	imapfs "github.com/imapfs/imapfs/fs"
	"github.com/imapfs/imapfs/imapbackend"
)

const mountUsage = `Usage: imapfs mount [options] URL MOUNTPOINT

Mounts the IMAP account at URL on MOUNTPOINT (an existing, empty directory)
and stays in the foreground until it is unmounted (umount MOUNTPOINT,
fusermount3 -u MOUNTPOINT) or interrupted (Ctrl-C, SIGTERM).

URL: imaps://USER@HOST[:993]          implicit TLS
     imap://USER@HOST[:143]           STARTTLS, required
     imap+insecure://USER@HOST[:PORT] no TLS (loopback, tests)
USER may be percent-encoded: imaps://me%40example.org@imap.example.org

The password is read from IMAPFS_PASSWORD, --password-file or
--password-command; it is never accepted on the command line.

Examples:
  IMAPFS_PASSWORD=... imapfs mount imaps://me%40example.org@imap.example.org ~/mail
  imapfs mount --password-command 'pass show mail' --read-only imaps://me%40example.org@imap.example.org ~/mail

Options:
`

type mountFlags struct {
	password   passwordSource
	readOnly   bool
	cacheSize  byteSize
	timeout    time.Duration
	debug      bool
	allowOther bool
}

func newMountFlagSet(out io.Writer, mf *mountFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("imapfs mount", flag.ContinueOnError)
	fs.SetOutput(out)
	mf.cacheSize = 256 << 20
	fs.StringVar(&mf.password.file, "password-file", "", "read the password from the first line of `FILE`")
	fs.StringVar(&mf.password.command, "password-command", "", "run `CMD` with /bin/sh and use the first line it prints as the password")
	fs.BoolVar(&mf.readOnly, "read-only", false, "open mailboxes with EXAMINE; refuse every change with EROFS")
	fs.Var(&mf.cacheSize, "cache-size", "memory for fetched content, e.g. 256MiB, 1G (default 256MiB)")
	fs.DurationVar(&mf.timeout, "timeout", 30*time.Second, "give up on the server after `DURATION` (connecting, and every operation)")
	fs.BoolVar(&mf.debug, "debug", false, "log every IMAP operation and FUSE request to standard error")
	fs.BoolVar(&mf.allowOther, "allow-other", false, "let other users access the mount (needs user_allow_other in /etc/fuse.conf)")
	fs.Usage = func() {
		fmt.Fprint(out, mountUsage)
		fs.PrintDefaults()
	}
	return fs
}

func runMount(args []string, stderr io.Writer) error {
	var mf mountFlags
	flags := newMountFlagSet(stderr, &mf)
	pos, err := parseInterleaved(flags, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErrorf("%v (see imapfs mount --help)", err)
	}
	if len(pos) != 2 {
		return usageErrorf("mount needs URL and MOUNTPOINT, got %d arguments (see imapfs mount --help)", len(pos))
	}
	acct, err := imapbackend.ParseURL(pos[0])
	if err != nil {
		return err
	}
	dir := pos[1]
	if err := checkMountpoint(dir); err != nil {
		return err
	}
	password, err := mf.password.read()
	if err != nil {
		return err
	}
	logger := log.New(stderr, "imapfs: ", log.LstdFlags)
	cfg := imapbackend.Config{Account: acct, Password: password, ReadOnly: mf.readOnly, Timeout: mf.timeout}
	if mf.debug {
		cfg.Logger = logger
	}
	return serve(cfg, dir, mf, logger, nil)
}

// serve logs in, mounts, calls ready (if set) once the mount is up, and
// waits until the mount goes away, unmounting cleanly on SIGINT and SIGTERM.
func serve(cfg imapbackend.Config, dir string, mf mountFlags, logger *log.Logger, ready func()) error {
	backend, err := imapbackend.Open(context.Background(), cfg)
	if err != nil {
		return err
	}
	defer backend.Close()
	fsys := imapfs.New(backend, imapfs.Options{Cache: cache.New(int64(mf.cacheSize)), Logger: logger, ReadOnly: mf.readOnly})
	server, err := fsys.Mount(dir, imapfs.MountOptions{FsName: cfg.Account.String(), Debug: mf.debug, AllowOther: mf.allowOther})
	if err != nil {
		return err
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	if ready != nil {
		ready()
	}
	go func() {
		for range signals {
			if err := server.Unmount(); err != nil {
				logger.Printf("unmount %s: %s; detaching it lazily", dir, strings.Join(strings.Fields(err.Error()), " "))
				lazyUnmount(dir)
			}
		}
	}()
	server.Wait()
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

// checkMountpoint refuses a mount point that does not exist, is not a
// directory, or is not empty: mounting over files hides them.
func checkMountpoint(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("mount point %s does not exist (create it with mkdir)", dir)
		}
		return fmt.Errorf("mount point: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("mount point %s is not a directory", dir)
	}
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("mount point: %w", err)
	}
	defer f.Close()
	if names, _ := f.Readdirnames(1); len(names) > 0 {
		return fmt.Errorf("mount point %s is not empty", dir)
	}
	return nil
}
