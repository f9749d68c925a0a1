package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// samplePassword is distinctive, so that finding it in /proc says it leaked.
const samplePassword = "Zq7-s3cret-Kx93"

// TestMountPasswordSources mounts with the password from each source and
// checks that the mount works and that the password shows neither in the
// process's command line nor, once mounted, in its environment.
func TestMountPasswordSources(t *testing.T) {
	imaptest.RequireFUSE(t)
	tests := []struct {
		name string
		// prepare returns the server, the environment and the flags.
		prepare func(t *testing.T) (*imaptest.Server, []string, []string)
	}{
		{
			name: "password-file",
			prepare: func(t *testing.T) (*imaptest.Server, []string, []string) {
				srv := memoryWithUser(t, "user", samplePassword)
				file := filepath.Join(t.TempDir(), "pw")
				if err := os.WriteFile(file, []byte(samplePassword+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				return srv, env(), []string{"--password-file", file}
			},
		},
		{
			name: "password-file-sample-server",
			prepare: func(t *testing.T) (*imaptest.Server, []string, []string) {
				srv := seededMemory(t)
				file := filepath.Join(t.TempDir(), "pw")
				if err := os.WriteFile(file, []byte("pass\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				return srv, env(), []string{"--password-file", file}
			},
		},
		{
			name: "password-command",
			prepare: func(t *testing.T) (*imaptest.Server, []string, []string) {
				return seededMemory(t), env(), []string{"--password-command", "printf pass"}
			},
		},
		{
			name: "password-command-reading-a-file",
			prepare: func(t *testing.T) (*imaptest.Server, []string, []string) {
				srv := memoryWithUser(t, "user", samplePassword)
				file := filepath.Join(t.TempDir(), "pw")
				if err := os.WriteFile(file, []byte(samplePassword+"\nsecond line\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				return srv, env(), []string{"--password-command", "cat " + file}
			},
		},
		{
			name: "IMAPFS_PASSWORD",
			prepare: func(t *testing.T) (*imaptest.Server, []string, []string) {
				srv := memoryWithUser(t, "user", samplePassword)
				return srv, env("IMAPFS_PASSWORD=" + samplePassword), nil
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, environ, flags := tt.prepare(t)
			dir := mountDir(t)
			args := append([]string{"mount"}, flags...)
			args = append(args, insecureURL(srv), dir)
			p := start(t, environ, "", []string{dir}, args...)
			p.waitMounted(dir)

			if uids := messageDirs(t, filepath.Join(dir, "INBOX")); len(uids) != 7 {
				t.Errorf("ls INBOX: %d message directories %v, want 7", len(uids), uids)
			}
			checkProcDoesNotHold(t, p.cmd.Process.Pid, srv.Password)

			p.stopAndCheck(syscall.SIGTERM, dir)
			if s := p.stderr.String(); s != "" {
				t.Errorf("stderr of a successful mount: %q, want nothing", s)
			}
			if s := p.stdout.String(); s != "" {
				t.Errorf("stdout of a successful mount: %q, want nothing", s)
			}
		})
	}
}

// checkProcDoesNotHold checks that the command line and the environment of
// process pid show no trace of password, nor an IMAPFS_PASSWORD variable.
// The check on the command line is skipped for imaptest's password "pass",
// which "--password-file" contains.
func checkProcDoesNotHold(t *testing.T, pid int, password string) {
	t.Helper()
	proc := "/proc/" + strconv.Itoa(pid)
	cmdline, err := os.ReadFile(proc + "/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	if password != "pass" && bytes.Contains(cmdline, []byte(password)) {
		t.Errorf("%s/cmdline holds the password: %q", proc, cmdline)
	}
	environ, err := os.ReadFile(proc + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range bytes.Split(environ, []byte{0}) {
		if bytes.HasPrefix(kv, []byte("IMAPFS_PASSWORD=")) {
			t.Errorf("%s/environ still holds %q after mounting", proc, kv)
		} else if password != "pass" && bytes.Contains(kv, []byte(password)) {
			t.Errorf("%s/environ holds the password in %q", proc, kv)
		}
	}
}

// TestMountStops checks the ways a mount ends: SIGTERM, SIGINT, and an
// unmount from outside, each unmounting and exiting 0.
func TestMountStops(t *testing.T) {
	imaptest.RequireFUSE(t)
	srv := seededMemory(t)
	stops := []struct {
		name string
		stop func(t *testing.T, p *proc, dir string)
	}{
		{"SIGTERM", func(t *testing.T, p *proc, dir string) { p.signal(syscall.SIGTERM) }},
		{"SIGINT", func(t *testing.T, p *proc, dir string) { p.signal(syscall.SIGINT) }},
		{"umount", func(t *testing.T, p *proc, dir string) {
			if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
				t.Fatalf("umount %s: %v: %s", dir, err, out)
			}
		}},
		{"fusermount3 -u", func(t *testing.T, p *proc, dir string) {
			if _, err := exec.LookPath("fusermount3"); err != nil {
				t.Skip("fusermount3 is not installed")
			}
			if out, err := exec.Command("fusermount3", "-u", dir).CombinedOutput(); err != nil {
				t.Fatalf("fusermount3 -u %s: %v: %s", dir, err, out)
			}
		}},
	}
	for _, s := range stops {
		t.Run(s.name, func(t *testing.T) {
			dir := mountDir(t)
			p := start(t, env("IMAPFS_PASSWORD=pass"), "", []string{dir}, "mount", insecureURL(srv), dir)
			p.waitMounted(dir)
			if uids := messageDirs(t, filepath.Join(dir, "INBOX")); len(uids) != 7 {
				t.Errorf("ls INBOX: %d message directories, want 7", len(uids))
			}
			s.stop(t, p, dir)
			if code := p.wait(); code != 0 {
				t.Errorf("exit status %d, want 0; stderr:\n%s", code, p.stderr.String())
			}
			if isMounted(t, dir) {
				t.Errorf("%s is still mounted after imapfs exited", dir)
			}
			if s := p.stderr.String(); s != "" {
				t.Errorf("stderr: %q, want nothing", s)
			}
		})
	}
}

// TestMountSIGTERMWhileBusy stops a mount while a process has a directory
// in it open: the mount must leave the namespace at once (a lazy unmount),
// and imapfs exit 0 once the last file in it is closed.
func TestMountSIGTERMWhileBusy(t *testing.T) {
	imaptest.RequireFUSE(t)
	srv := seededMemory(t)
	dir := mountDir(t)
	p := start(t, env("IMAPFS_PASSWORD=pass"), "", []string{dir}, "mount", insecureURL(srv), dir)
	p.waitMounted(dir)
	f, err := os.Open(filepath.Join(dir, "INBOX"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p.signal(syscall.SIGTERM)
	deadline := time.Now().Add(exitDeadline)
	for isMounted(t, dir) {
		if time.Now().After(deadline) {
			t.Fatalf("%s still mounted %v after SIGTERM; stderr:\n%s", dir, exitDeadline, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The open directory still works until it is closed.
	if _, err := f.Readdirnames(-1); err != nil {
		t.Errorf("readdir of a directory opened before the lazy unmount: %v", err)
	}
	f.Close()
	if code := p.wait(); code != 0 {
		t.Errorf("exit status %d, want 0; stderr:\n%s", code, p.stderr.String())
	}
}

// TestMountFlagsAfterArguments checks that flags are accepted after URL and
// MOUNTPOINT: --read-only must take effect, so mailboxes are opened with
// EXAMINE and never with SELECT.
func TestMountFlagsAfterArguments(t *testing.T) {
	imaptest.RequireFUSE(t)
	srv := seededMemory(t)
	for _, readOnly := range []bool{true, false} {
		t.Run("read-only="+strconv.FormatBool(readOnly), func(t *testing.T) {
			proxy, err := imaptest.NewProxy(srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { proxy.Close() })
			dir := mountDir(t)
			args := []string{"mount", "imap+insecure://user@" + proxy.Addr, dir}
			if readOnly {
				args = append(args, "--read-only")
			}
			args = append(args, "--cache-size", "16MiB")
			p := start(t, env("IMAPFS_PASSWORD=pass"), "", []string{dir}, args...)
			p.waitMounted(dir)
			uids := messageDirs(t, filepath.Join(dir, "INBOX"))
			if len(uids) != 7 {
				t.Fatalf("ls INBOX: %d message directories, want 7", len(uids))
			}
			if _, err := os.ReadFile(filepath.Join(dir, "INBOX", uids[0], "HEADER")); err != nil {
				t.Errorf("read HEADER: %v", err)
			}
			cmds := proxy.Commands()
			t.Logf("commands: %v", cmds)
			if readOnly && (cmds["SELECT"] != 0 || cmds["EXAMINE"] == 0) {
				t.Errorf("with --read-only after the arguments: %d SELECT, %d EXAMINE; want only EXAMINE", cmds["SELECT"], cmds["EXAMINE"])
			}
			if !readOnly && cmds["SELECT"] == 0 {
				t.Errorf("without --read-only: no SELECT (commands %v)", cmds)
			}
			if readOnly {
				err := os.Mkdir(filepath.Join(dir, "INBOX", "new"), 0o755)
				if !errors.Is(err, syscall.EROFS) {
					t.Errorf("mkdir under --read-only: %v, want EROFS", err)
				}
			}
			p.stopAndCheck(syscall.SIGINT, dir)
		})
	}
}

// TestMountFsName checks that mount(8) shows the account, without any
// password, as the source of the mount.
func TestMountFsName(t *testing.T) {
	imaptest.RequireFUSE(t)
	srv := seededMemory(t)
	dir := mountDir(t)
	p := start(t, env("IMAPFS_PASSWORD=pass"), "", []string{dir}, "mount", insecureURL(srv), dir)
	p.waitMounted(dir)
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	var entry string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && unescapeMountinfo(f[1]) == dir {
			entry = line
		}
	}
	if want := insecureURL(srv); !strings.HasPrefix(entry, want+" ") {
		t.Errorf("mount entry %q, want source %q", entry, want)
	}
	if !strings.Contains(entry, "fuse.imapfs") {
		t.Errorf("mount entry %q, want type fuse.imapfs", entry)
	}
	p.stopAndCheck(syscall.SIGTERM, dir)
}

// TestMountUserWithAt mounts an account whose user name is an e-mail
// address, written percent-encoded and, as in imapfs mount --help, as is.
func TestMountUserWithAt(t *testing.T) {
	imaptest.RequireFUSE(t)
	srv := memoryWithUser(t, "me@example.org", samplePassword)
	for _, user := range []string{"me%40example.org", "me@example.org"} {
		t.Run(user, func(t *testing.T) {
			dir := mountDir(t)
			p := start(t, env("IMAPFS_PASSWORD="+samplePassword), "", []string{dir}, "mount", "imap+insecure://"+user+"@"+srv.Addr, dir)
			p.waitMounted(dir)
			if uids := messageDirs(t, filepath.Join(dir, "INBOX")); len(uids) != 7 {
				t.Errorf("ls INBOX: %d message directories, want 7", len(uids))
			}
			p.stopAndCheck(syscall.SIGTERM, dir)
		})
	}
}
