package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// tokenCommand returns a function that runs command with /bin/sh and
// returns the first line it prints: an OAuth 2 access token, as printed
// by oama, pizauth, oauth2l or a provider's own tool. stdin is what the
// command reads (a daemon has none to give).
func tokenCommand(command string, stdin io.Reader) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.Stdin = stdin
		out, err := cmd.Output()
		if err != nil {
			if ctx.Err() != nil {
				return "", fmt.Errorf("OAuth token command did not finish in time: %w", ctx.Err())
			}
			if msg := oneLine(stderr.String()); msg != "" {
				return "", fmt.Errorf("OAuth token command failed: %v: %s", err, msg)
			}
			return "", fmt.Errorf("OAuth token command failed: %w", err)
		}
		tok := strings.TrimSpace(firstLine(out))
		if tok == "" {
			return "", errors.New("OAuth token command printed nothing")
		}
		return tok, nil
	}
}
