package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

const statusUsage = `Usage: imapfs status MOUNTPOINT

Prints what the imapfs mount on MOUNTPOINT is doing: its server, the
capabilities the server offers, connections, the cache and its hit rate,
traffic and errors. It reads MOUNTPOINT/.imapfs/status, which any tool can
read too.

Example:
  imapfs status ~/mail
`

func runStatus(args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("imapfs status", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() { fmt.Fprint(stderr, statusUsage) }
	pos, err := parseInterleaved(flags, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErrorf("%v (see imapfs status --help)", err)
	}
	if len(pos) != 1 {
		return usageErrorf("status needs MOUNTPOINT (see imapfs status --help)")
	}
	data, err := os.ReadFile(filepath.Join(pos[0], ".imapfs", "status"))
	if err != nil {
		return fmt.Errorf("%s is not an imapfs mount (no .imapfs/status)", pos[0])
	}
	_, err = stdout.Write(data)
	return err
}
