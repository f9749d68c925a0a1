package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// TestMountErrorsBeforeMounting checks the errors imapfs mount finds before
// it mounts: one line on standard error starting with "imapfs: ", saying
// what is wrong, a non-zero exit status, nothing on standard output and
// nothing mounted.
func TestMountErrorsBeforeMounting(t *testing.T) {
	type setup struct {
		url        string
		mountpoint string
		env        []string
	}
	tests := []struct {
		name string
		// prepare returns the URL, mount point and environment to run with;
		// dir is an empty directory.
		prepare    func(t *testing.T, dir string) setup
		flags      []string // appended after URL and MOUNTPOINT
		wantCode   int      // exact exit status, or 0 for any non-zero
		want       []string // substrings the line must contain (case-insensitive)
		notWant    []string // substrings it must not contain (case-sensitive)
		maxElapsed time.Duration
	}{
		{
			name: "unknown scheme",
			prepare: func(t *testing.T, dir string) setup {
				return setup{"http://u@h", dir, env("IMAPFS_PASSWORD=x")}
			},
			want: []string{"scheme", `"http"`},
		},
		{
			name: "wrong password",
			prepare: func(t *testing.T, dir string) setup {
				srv := imaptest.NewMemory(t)
				return setup{insecureURL(srv), dir, env("IMAPFS_PASSWORD=wrong-secret-123")}
			},
			want:    []string{"authentication"},
			notWant: []string{"wrong-secret-123"},
		},
		{
			name: "unreachable host",
			prepare: func(t *testing.T, dir string) setup {
				return setup{"imap+insecure://user@" + closedPort(t), dir, env("IMAPFS_PASSWORD=pass")}
			},
			want:       []string{"connect", "refused"},
			maxElapsed: 5 * time.Second,
		},
		{
			name: "TLS certificate of unknown authority",
			prepare: func(t *testing.T, dir string) setup {
				// A TLS server whose private CA the client does not trust.
				tlsSrv := imaptest.NewMemoryExtra(t, imaptest.ExtraOptions{TLS: true})
				return setup{"imaps://user@" + tlsSrv.TLSAddr, dir, env("IMAPFS_PASSWORD=pass")}
			},
			want:       []string{"TLS", "certificate", "unknown authority"},
			maxElapsed: 10 * time.Second,
		},
		{
			name: "imaps to a plain server",
			prepare: func(t *testing.T, dir string) setup {
				srv := imaptest.NewMemory(t)
				return setup{"imaps://user@" + srv.Addr, dir, env("IMAPFS_PASSWORD=pass")}
			},
			want:       []string{"TLS"},
			maxElapsed: 10 * time.Second,
		},
		{
			name: "STARTTLS not offered",
			prepare: func(t *testing.T, dir string) setup {
				srv := imaptest.NewMemory(t)
				return setup{"imap://user@" + srv.Addr, dir, env("IMAPFS_PASSWORD=pass")}
			},
			want:       []string{"STARTTLS"},
			maxElapsed: 10 * time.Second,
		},
		{
			name: "missing mount point",
			prepare: func(t *testing.T, dir string) setup {
				srv := imaptest.NewMemory(t)
				return setup{insecureURL(srv), filepath.Join(dir, "missing"), env("IMAPFS_PASSWORD=pass")}
			},
			want: []string{"mount point", "does not exist"},
		},
		{
			name: "mount point is a file",
			prepare: func(t *testing.T, dir string) setup {
				srv := imaptest.NewMemory(t)
				file := filepath.Join(dir, "file")
				if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
				return setup{insecureURL(srv), file, env("IMAPFS_PASSWORD=pass")}
			},
			want: []string{"not a directory"},
		},
		{
			name: "non-empty mount point",
			prepare: func(t *testing.T, dir string) setup {
				srv := imaptest.NewMemory(t)
				if err := os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
				return setup{insecureURL(srv), dir, env("IMAPFS_PASSWORD=pass")}
			},
			want: []string{"not empty"},
		},
		{
			name: "no password",
			prepare: func(t *testing.T, dir string) setup {
				srv := imaptest.NewMemory(t)
				return setup{insecureURL(srv), dir, env()}
			},
			wantCode: 2,
			want:     []string{"IMAPFS_PASSWORD", "--password-file", "--password-command"},
		},
		{
			name: "password in URL",
			prepare: func(t *testing.T, dir string) setup {
				return setup{"imaps://u:hunter2@h", dir, env("IMAPFS_PASSWORD=x")}
			},
			want:    []string{"password"},
			notWant: []string{"hunter2"},
		},
		{
			name: "password in URL without scheme",
			prepare: func(t *testing.T, dir string) setup {
				return setup{"//u:hunter2@h", dir, env("IMAPFS_PASSWORD=x")}
			},
			want:    []string{"invalid URL"},
			notWant: []string{"hunter2"},
		},
		{
			name: "password in URL with bad port",
			prepare: func(t *testing.T, dir string) setup {
				return setup{"imaps://u:hunter2@h:99999", dir, env("IMAPFS_PASSWORD=x")}
			},
			want:    []string{"invalid URL"},
			notWant: []string{"hunter2"},
		},
		{
			name: "password in URL that does not parse",
			prepare: func(t *testing.T, dir string) setup {
				return setup{"imaps://u:hunter2@h:port", dir, env("IMAPFS_PASSWORD=x")}
			},
			want:    []string{"invalid URL"},
			notWant: []string{"hunter2"},
		},
		{
			name: "both password flags",
			prepare: func(t *testing.T, dir string) setup {
				srv := imaptest.NewMemory(t)
				return setup{insecureURL(srv), dir, env()}
			},
			flags:    []string{"--password-file", "/dev/null", "--password-command", "true"},
			wantCode: 2,
			want:     []string{"not both"},
		},
		{
			name: "password command fails",
			prepare: func(t *testing.T, dir string) setup {
				srv := imaptest.NewMemory(t)
				return setup{insecureURL(srv), dir, env()}
			},
			flags: []string{"--password-command", "echo 'no such entry' >&2; exit 1"},
			want:  []string{"password command", "no such entry"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := mountDir(t)
			s := tt.prepare(t, dir)
			args := append([]string{"mount", s.url, s.mountpoint}, tt.flags...)
			r := runImapfs(t, s.env, s.mountpoint, args...)
			line := checkOneErrorLine(t, r)
			t.Logf("exit status %d, %v: %s", r.code, r.elapsed.Round(time.Millisecond), line)
			switch {
			case tt.wantCode != 0 && r.code != tt.wantCode:
				t.Errorf("exit status %d, want %d", r.code, tt.wantCode)
			case r.code == 0:
				t.Errorf("exit status 0, want non-zero")
			}
			for _, w := range tt.want {
				if !strings.Contains(strings.ToLower(line), strings.ToLower(w)) {
					t.Errorf("error line %q does not mention %q", line, w)
				}
			}
			for _, nw := range tt.notWant {
				if strings.Contains(r.stderr+r.stdout, nw) {
					t.Errorf("output gives away %q:\nstdout: %q\nstderr: %q", nw, r.stdout, r.stderr)
				}
			}
			if tt.maxElapsed != 0 && r.elapsed > tt.maxElapsed {
				t.Errorf("took %v, want at most %v", r.elapsed.Round(time.Millisecond), tt.maxElapsed)
			}
			if tt.name == "non-empty mount point" {
				if _, err := os.Stat(filepath.Join(dir, "keep.txt")); err != nil {
					t.Errorf("file in the mount point: %v", err)
				}
			}
		})
	}
}

// checkOneErrorLine checks that r printed nothing on standard output and
// exactly one line, starting with "imapfs: ", on standard error, and
// returns that line.
func checkOneErrorLine(t *testing.T, r result) string {
	t.Helper()
	if r.stdout != "" {
		t.Errorf("stdout: %q, want nothing", r.stdout)
	}
	if !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr %q does not end in a newline", r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 1 {
		t.Errorf("stderr has %d lines, want 1:\n%s", len(lines), r.stderr)
	}
	if !strings.HasPrefix(lines[0], "imapfs: ") {
		t.Errorf("stderr %q does not start with %q", lines[0], "imapfs: ")
	}
	return lines[0]
}

// TestUnknownCommand checks that a misspelt command is a usage error.
func TestUnknownCommand(t *testing.T) {
	r := runImapfs(t, env(), "", "mnt")
	if r.code != 2 {
		t.Errorf("exit status %d, want 2", r.code)
	}
	if !strings.HasPrefix(r.stderr, `imapfs: unknown command "mnt"`) {
		t.Errorf("stderr does not start with the error:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "imapfs mount [options] URL MOUNTPOINT") {
		t.Errorf("stderr has no usage:\n%s", r.stderr)
	}
}

// TestMountWrongArguments checks the usage errors of imapfs mount.
func TestMountWrongArguments(t *testing.T) {
	dir := mountDir(t)
	for _, args := range [][]string{
		{"mount"},
		{"mount", "imaps://u@h"},
		{"mount", "imaps://u@h", dir, "extra"},
		{"mount", "--no-such-flag", "imaps://u@h", dir},
		{"mount", "--cache-size", "lots", "imaps://u@h", dir},
	} {
		r := runImapfs(t, env("IMAPFS_PASSWORD=x"), dir, args...)
		if r.code != 2 {
			t.Errorf("imapfs %s: exit status %d, want 2; stderr:\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
		// The flag package prints its own complaint and the usage before
		// imapfs's line; the last line is imapfs's.
		lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
		last := lines[len(lines)-1]
		if !strings.HasPrefix(last, "imapfs: ") || !strings.Contains(last, "--help") {
			t.Errorf("imapfs %s: last line of stderr %q, want an imapfs: line pointing at --help", strings.Join(args, " "), last)
		}
	}
}

// closedPort returns 127.0.0.1:PORT where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
