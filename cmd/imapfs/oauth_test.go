package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/imapfs/imapfs"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// oauthServer is a memory server holding the sample mail that accepts the
// given tokens with the given mechanisms.
func oauthServer(t *testing.T, mechs []string, tokens ...string) *imaptest.ExtraServer {
	t.Helper()
	srv := imaptest.NewMemoryExtra(t, imaptest.ExtraOptions{Password: samplePassword, OAuthMechanisms: mechs, Tokens: tokens})
	if err := srv.Seed(imapfs.SampleMail, "testdata/mail"); err != nil {
		t.Fatal(err)
	}
	return srv
}

// tokenScript writes a token command that prints PREFIX1 the first time
// it runs, PREFIX2 the second, and so on, and returns the command and a
// function telling how many times it ran.
func tokenScript(t *testing.T, prefix string) (string, func() int) {
	t.Helper()
	dir := t.TempDir()
	counter := filepath.Join(dir, "count")
	script := filepath.Join(dir, "token.sh")
	body := "#!/bin/sh\nn=$(cat " + counter + " 2>/dev/null || echo 0)\nn=$((n+1))\necho $n > " + counter + "\necho " + prefix + "$n\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, func() int {
		b, err := os.ReadFile(counter)
		if err != nil {
			return 0
		}
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
}

// TestMountOAuth mounts with --oauth-token-command against servers
// offering XOAUTH2, OAUTHBEARER or both, and checks the mechanism used and
// that the token shows neither in the process nor in its output.
func TestMountOAuth(t *testing.T) {
	imaptest.RequireFUSE(t)
	const token = "ya29.Tok3n-Secret-4711"
	tests := []struct {
		name     string
		mechs    []string
		wantMech string
	}{
		{"XOAUTH2", []string{"XOAUTH2"}, "XOAUTH2"},
		{"OAUTHBEARER", []string{"OAUTHBEARER"}, "OAUTHBEARER"},
		{"both", []string{"XOAUTH2", "OAUTHBEARER"}, "OAUTHBEARER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := oauthServer(t, tt.mechs, token)
			dir := mountDir(t)
			p := start(t, env(), "", []string{dir}, "mount", "--oauth-token-command", "echo "+token, insecureURL(srv.Server), dir)
			p.waitMounted(dir)
			if uids := messageDirs(t, filepath.Join(dir, "INBOX")); len(uids) != 7 {
				t.Errorf("ls INBOX: %d message directories, want 7", len(uids))
			}
			attempts := srv.AuthAttempts()
			if len(attempts) == 0 {
				t.Fatal("the server saw no AUTHENTICATE")
			}
			for _, a := range attempts {
				if a.Mechanism != tt.wantMech || !a.OK || a.Username != srv.Username || a.Token != token {
					t.Errorf("authentication %+v, want %s with the token, accepted", a, tt.wantMech)
				}
			}
			// The command line holds the command, which prints the token;
			// the environment must not hold the token itself.
			environ, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/environ")
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(environ), token) {
				t.Errorf("the environment of imapfs holds the token")
			}
			p.stopAndCheck(syscall.SIGTERM, dir)
			if out := p.stdout.String() + p.stderr.String(); out != "" {
				t.Errorf("output of a successful mount: %q", out)
			}
		})
	}
}

// TestMountOAuthRefresh checks that a token the server rejects is
// replaced by running the command once more, also in a daemon, whose
// token command runs without the terminal.
func TestMountOAuthRefresh(t *testing.T) {
	imaptest.RequireFUSE(t)
	for _, daemon := range []bool{false, true} {
		t.Run("daemon="+strconv.FormatBool(daemon), func(t *testing.T) {
			cmd, runs := tokenScript(t, "tok-")
			srv := oauthServer(t, []string{"XOAUTH2"}, "tok-2")
			dir := mountDir(t)
			cleanupMount(t, dir)
			if daemon {
				r := runImapfs(t, env(), "", "mount", "--daemon", "--oauth-token-command", cmd, insecureURL(srv.Server), dir)
				if r.code != 0 {
					t.Fatalf("exit status %d: %s", r.code, r.stderr)
				}
			} else {
				p := start(t, env(), "", []string{dir}, "mount", "--oauth-token-command", cmd, insecureURL(srv.Server), dir)
				p.waitMounted(dir)
			}
			if uids := messageDirs(t, filepath.Join(dir, "INBOX")); len(uids) != 7 {
				t.Errorf("ls INBOX: %d message directories, want 7", len(uids))
			}
			if n := runs(); n != 2 {
				t.Errorf("token command ran %d times, want 2 (once more after the rejection)", n)
			}
			var got []string
			for _, a := range srv.AuthAttempts() {
				got = append(got, a.Token+"="+strconv.FormatBool(a.OK))
			}
			if len(got) < 2 || got[0] != "tok-1=false" || got[1] != "tok-2=true" {
				t.Errorf("authentications %v, want tok-1 refused then tok-2 accepted", got)
			}
			if r := runImapfs(t, env(), "", "unmount", dir); r.code != 0 {
				t.Errorf("unmount: %s", r.stderr)
			}
		})
	}
}

// TestMountOAuthFailures checks the errors of token logins: a server
// without OAuth mechanisms, a token refused even after a refresh, and a
// failing token command.
func TestMountOAuthFailures(t *testing.T) {
	tests := []struct {
		name  string
		mechs []string
		cmd   func(t *testing.T) (string, func() int)
		want  []string
		runs  int
	}{
		{
			name:  "no OAuth mechanism",
			mechs: nil,
			cmd:   func(t *testing.T) (string, func() int) { return tokenScript(t, "Secr3t-tok-") },
			want:  []string{"neither OAUTHBEARER nor XOAUTH2", "PLAIN"},
			runs:  1,
		},
		{
			name:  "token always rejected",
			mechs: []string{"OAUTHBEARER"},
			cmd:   func(t *testing.T) (string, func() int) { return tokenScript(t, "Secr3t-tok-") },
			want:  []string{"rejected the OAuth token", "rejected too", "authentication failed"},
			runs:  2,
		},
		{
			name:  "token command fails",
			mechs: []string{"XOAUTH2"},
			cmd: func(t *testing.T) (string, func() int) {
				return "echo 'no grant for me@example.org' >&2; exit 3", func() int { return 1 }
			},
			want: []string{"OAuth token command failed", "no grant for me@example.org"},
			runs: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := oauthServer(t, tt.mechs, "the-only-good-token")
			cmd, runs := tt.cmd(t)
			dir := mountDir(t)
			r := runImapfs(t, env(), dir, "mount", "--oauth-token-command", cmd, insecureURL(srv.Server), dir)
			line := checkOneErrorLine(t, r)
			if r.code != 1 {
				t.Errorf("exit status %d, want 1", r.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("error line %q lacks %q", line, w)
				}
			}
			if strings.Contains(line, "Secr3t-tok-") {
				t.Errorf("error line gives a token away: %q", line)
			}
			if n := runs(); n != tt.runs {
				t.Errorf("token command ran %d times, want %d", n, tt.runs)
			}
		})
	}
}

// TestOAuthWithPassword checks that a password option and a token command
// together are a usage error.
func TestOAuthWithPassword(t *testing.T) {
	dir := mountDir(t)
	r := runImapfs(t, env(), dir, "mount", "--oauth-token-command", "echo t", "--password-file", "/dev/null", "imaps://u@h", dir)
	line := checkOneErrorLine(t, r)
	if r.code != 2 || !strings.Contains(line, "not both") {
		t.Errorf("exit status %d, line %q; want 2 and \"not both\"", r.code, line)
	}
}
