package main

import (
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		r := runImapfs(t, env(), "", arg)
		if r.code != 0 {
			t.Errorf("imapfs %s: exit status %d, want 0", arg, r.code)
		}
		if !strings.HasPrefix(r.stdout, "imapfs ") || strings.Count(r.stdout, "\n") != 1 || len(r.stdout) <= len("imapfs \n") {
			t.Errorf("imapfs %s: stdout %q, want one line \"imapfs VERSION\"", arg, r.stdout)
		}
		if r.stderr != "" {
			t.Errorf("imapfs %s: stderr %q, want nothing", arg, r.stderr)
		}
	}
}

func TestNoArguments(t *testing.T) {
	r := runImapfs(t, env(), "")
	if r.code != 2 {
		t.Errorf("exit status %d, want 2", r.code)
	}
	for _, want := range []string{"Usage:", "imapfs mount [options] URL MOUNTPOINT", "imapfs demo", "imapfs version", "IMAPFS_PASSWORD"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("usage on stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		r := runImapfs(t, env(), "", args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("imapfs %s: exit status %d, stdout:\n%s", args[0], r.code, r.stdout)
		}
	}
}

func TestMountHelp(t *testing.T) {
	for _, flag := range []string{"--help", "-h"} {
		r := runImapfs(t, env(), "", "mount", flag)
		if r.code != 0 {
			t.Errorf("imapfs mount %s: exit status %d, want 0", flag, r.code)
		}
		out := r.stdout + r.stderr
		for _, want := range []string{
			"Usage: imapfs mount [options] URL MOUNTPOINT",
			"Examples:",
			"imapfs mount --password-command",
			"imaps://me%40example.org@imap.example.org",
			"-password-file",
			"-read-only",
			"-cache-size",
			"-timeout",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("imapfs mount %s: output lacks %q:\n%s", flag, want, out)
			}
		}
		if strings.Contains(out, "imapfs: ") {
			t.Errorf("imapfs mount %s: help reads as an error:\n%s", flag, out)
		}
	}
}

func TestDemoHelp(t *testing.T) {
	r := runImapfs(t, env(), "", "demo", "--help")
	if r.code != 0 {
		t.Errorf("exit status %d, want 0", r.code)
	}
	if out := r.stdout + r.stderr; !strings.Contains(out, "Usage: imapfs demo") || !strings.Contains(out, "-read-only") {
		t.Errorf("imapfs demo --help:\n%s", out)
	}
}

// TestSubcommandHelp checks that every command explains itself, with
// examples, through COMMAND --help and help COMMAND.
func TestSubcommandHelp(t *testing.T) {
	for _, cmd := range []string{"mount", "unmount", "demo", "version"} {
		for _, args := range [][]string{{cmd, "--help"}, {"help", cmd}} {
			r := runImapfs(t, env(), "", args...)
			out := r.stdout + r.stderr
			if r.code != 0 || !strings.Contains(out, "Usage: imapfs "+cmd) || !strings.Contains(out, "Example") {
				t.Errorf("imapfs %s: exit status %d, output:\n%s", strings.Join(args, " "), r.code, out)
			}
		}
	}
	r := runImapfs(t, env(), "", "--help")
	for _, want := range []string{"imapfs unmount", "ACCOUNT", "mount.imapfs", "Examples:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("imapfs --help lacks %q:\n%s", want, r.stdout)
		}
	}
}
