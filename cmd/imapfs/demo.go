package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/imapfs/imapfs"
	"github.com/imapfs/imapfs/imapbackend"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

const demoUsage = `Usage: imapfs demo [options] [MOUNTPOINT]

Starts an IMAP server inside imapfs, holding the sample mail shipped with
imapfs, and mounts it on MOUNTPOINT (default ./mail, created if missing).
No account needed. Ctrl-C unmounts.

Examples:
  imapfs demo                 mounts on ./mail
  imapfs demo --read-only /tmp/mail

Options:
`

func runDemo(args []string, stdout, stderr io.Writer) error {
	var mf mountFlags
	flags := newMountFlagSet("imapfs demo", stderr, &mf, true)
	flags.Usage = func() {
		fmt.Fprint(stderr, demoUsage)
		flags.PrintDefaults()
	}
	pos, err := parseInterleaved(flags, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErrorf("%v (see imapfs demo --help)", err)
	}
	dir := "mail"
	switch len(pos) {
	case 0:
	case 1:
		dir = pos[0]
	default:
		return usageErrorf("demo takes at most one MOUNTPOINT (see imapfs demo --help)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create mount point: %w", err)
	}
	if err := checkMountpoint(dir); err != nil {
		return err
	}

	srv, err := imaptest.StartMemory()
	if err != nil {
		return fmt.Errorf("start demo server: %w", err)
	}
	defer srv.Close()
	if err := srv.Seed(imapfs.SampleMail, "testdata/mail"); err != nil {
		return fmt.Errorf("load sample mail: %w", err)
	}
	acct, err := imapbackend.ParseURL("imap+insecure://" + srv.Username + "@" + srv.Addr)
	if err != nil {
		return err
	}
	logger := log.New(stderr, "imapfs: ", logFlags(mf))
	cfg := imapbackend.Config{Account: acct, Password: srv.Password, ReadOnly: mf.readOnly, Timeout: mf.timeout, Connections: mf.connections}
	if mf.debug {
		cfg.Logger = logger
	}
	return serve(cfg, dir, mf, logger, func() {
		fmt.Fprintf(stdout, `Sample mail mounted on %[1]s. Try, in another terminal:
  ls %[1]s %[1]s/INBOX
  cat %[1]s/INBOX/1/HEADER
  grep -rl zanzibarquokka %[1]s/INBOX
  cp %[1]s/INBOX/2/2 invoice.pdf
Press Ctrl-C here to unmount.
`, dir)
	})
}
