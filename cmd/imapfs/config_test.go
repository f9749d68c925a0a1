package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// writeConfig writes config.toml under dir/imapfs/ and returns its path.
func writeConfig(t *testing.T, dir, content string) string {
	t.Helper()
	path := filepath.Join(dir, "imapfs", "config.toml")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// envWithout is env() without the variables named, plus extra.
func envWithout(names []string, extra ...string) []string {
	var out []string
	for _, kv := range env() {
		keep := true
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// TestMountAccountFromConfig mounts a named account of the configuration
// file, found through XDG_CONFIG_HOME, through HOME and through --config,
// and checks that its settings apply and that the command line overrides
// them.
func TestMountAccountFromConfig(t *testing.T) {
	imaptest.RequireFUSE(t)
	srv := seededMemory(t)
	pw := passwordFile(t, srv.Password)
	config := `# imapfs accounts
[accounts.work]
url = "` + insecureURL(srv) + `"
password_file = "` + pw + `"
read_only = true
cache_size = "16MiB"
timeout = "20s"

[accounts.other]
url = "imaps://someone@example.org"
`
	xdg := t.TempDir()
	writeConfig(t, xdg, config)
	home := t.TempDir()
	writeConfig(t, filepath.Join(home, ".config"), config)
	explicit := writeConfig(t, t.TempDir(), config)

	tests := []struct {
		name     string
		environ  []string
		args     []string
		readOnly bool
	}{
		{"XDG_CONFIG_HOME", envWithout([]string{"XDG_CONFIG_HOME"}, "XDG_CONFIG_HOME="+xdg), nil, true},
		{"HOME", envWithout([]string{"XDG_CONFIG_HOME", "HOME"}, "HOME="+home), nil, true},
		{"--config", envWithout([]string{"XDG_CONFIG_HOME"}, "HOME=/nonexistent"), []string{"--config", explicit}, true},
		{"command line overrides", envWithout([]string{"XDG_CONFIG_HOME"}, "XDG_CONFIG_HOME="+xdg), []string{"--read-only=false"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := mountDir(t)
			args := append([]string{"mount", "work", dir}, tt.args...)
			p := start(t, tt.environ, "", []string{dir}, args...)
			p.waitMounted(dir)
			if uids := messageDirs(t, filepath.Join(dir, "INBOX")); len(uids) != 7 {
				t.Errorf("ls INBOX: %d message directories, want 7", len(uids))
			}
			mailbox := filepath.Join(dir, "Lists-"+strings.ReplaceAll(tt.name, " ", "-"))
			err := os.Mkdir(mailbox, 0o755)
			if tt.readOnly && !errors.Is(err, syscall.EROFS) {
				t.Errorf("mkdir with read_only = true in the account: %v, want EROFS", err)
			}
			if !tt.readOnly && err != nil {
				t.Errorf("mkdir with --read-only=false over the account's read_only: %v", err)
			}
			p.stopAndCheck(syscall.SIGTERM, dir)
		})
	}

	t.Run("mount.imapfs with config=", func(t *testing.T) {
		dir := mountDir(t)
		cleanupMount(t, dir)
		r := runCommand(t, envWithout([]string{"XDG_CONFIG_HOME"}, "HOME=/nonexistent"), helperBinary(t), "work", dir, "-o", "config="+explicit+",rw")
		if r.code != 0 {
			t.Fatalf("mount.imapfs work: exit status %d: %s", r.code, r.stderr)
		}
		pid := daemonPID(t, dir)
		if err := os.Mkdir(filepath.Join(dir, "Lists-helper"), 0o755); err != nil {
			t.Errorf("mkdir with -o rw over the account's read_only: %v", err)
		}
		if r := runImapfs(t, env(), "", "unmount", dir); r.code != 0 {
			t.Errorf("unmount: %s", r.stderr)
		}
		waitGone(t, pid, "daemon")
	})
}

// TestConfigErrors checks the errors a configuration file can cause.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		config  string // "" for no file
		account string
		want    []string
	}{
		{"no file", "", "work", []string{`no account "work"`, "config.toml does not exist"}},
		{"no such account", "[accounts.home]\nurl = \"imaps://u@h\"\n[accounts.gmail]\nurl = \"imaps://u@h\"\n", "work", []string{`no account "work"`, "gmail, home"}},
		{"unknown setting", "[accounts.work]\nurl = \"imaps://u@h\"\npasword_file = \"x\"\n", "work", []string{`unknown setting "pasword_file"`}},
		{"secret in the file", "[accounts.work]\nurl = \"imaps://u@h\"\npassword = \"Hunter2-secret\"\n", "work", []string{"secret does not belong", "password_command"}},
		{"no url", "[accounts.work]\nread_only = true\n", "work", []string{"has no url"}},
		{"bad value", "[accounts.work]\nurl = \"imaps://u@h\"\ncache_size = \"lots\"\n", "work", []string{"cache_size", "lots"}},
		{"not TOML", "[accounts.work\nurl = 1\n", "work", []string{"config.toml", "line 2"}},
		{"unknown table", "[acounts.work]\nurl = \"imaps://u@h\"\n", "work", []string{`unknown setting "acounts.work"`, "[accounts.NAME]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			xdg := t.TempDir()
			if tt.config != "" {
				writeConfig(t, xdg, tt.config)
			}
			dir := mountDir(t)
			r := runImapfs(t, envWithout([]string{"XDG_CONFIG_HOME"}, "XDG_CONFIG_HOME="+xdg, "IMAPFS_PASSWORD=x"), dir, "mount", tt.account, dir)
			line := checkOneErrorLine(t, r)
			if r.code == 0 {
				t.Errorf("exit status 0")
			}
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("error line %q lacks %q", line, w)
				}
			}
			if strings.Contains(line, "Hunter2-secret") {
				t.Errorf("error line gives the secret away: %q", line)
			}
		})
	}
}
