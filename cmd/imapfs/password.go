package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// passwordSource says where the password comes from. It is never a flag
// value itself: command lines are visible to every user in ps.
type passwordSource struct {
	file    string
	command string
}

func (p passwordSource) read() (string, error) {
	if p.file != "" && p.command != "" {
		return "", usageErrorf("give --password-file or --password-command, not both")
	}
	switch {
	case p.file != "":
		b, err := os.ReadFile(expandHome(p.file))
		if err != nil {
			return "", fmt.Errorf("read password file: %w", err)
		}
		return firstLine(b), nil
	case p.command != "":
		cmd := exec.Command("/bin/sh", "-c", p.command)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.Stdin = os.Stdin // pass(1) and gpg may ask for a passphrase
		out, err := cmd.Output()
		if err != nil {
			msg := strings.TrimSpace(stderr.String())
			if msg != "" {
				return "", fmt.Errorf("password command failed: %v: %s", err, msg)
			}
			return "", fmt.Errorf("password command failed: %w", err)
		}
		pw := firstLine(out)
		if pw == "" {
			return "", errors.New("password command printed nothing")
		}
		return pw, nil
	}
	if pw, ok := os.LookupEnv("IMAPFS_PASSWORD"); ok {
		// Not for the processes imapfs starts, nor for /proc/PID/environ
		// readers later on.
		os.Unsetenv("IMAPFS_PASSWORD")
		if err := scrubEnviron("IMAPFS_PASSWORD"); err != nil {
			return "", fmt.Errorf("remove IMAPFS_PASSWORD from the process environment: %w", err)
		}
		return pw, nil
	}
	return "", usageErrorf("no password: set IMAPFS_PASSWORD, or use --password-file FILE or --password-command CMD")
}

// firstLine is the password in a file or command output: the first line,
// without its line end, as pass(1) prints it.
func firstLine(b []byte) string {
	s := string(b)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return s
}
