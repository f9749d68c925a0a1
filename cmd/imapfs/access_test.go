package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// TestAllowOther checks who may enter a mount: only the mounting user
// without --allow-other (FUSE's default), every user with it. It runs ls
// as the user nobody, so it needs root.
func TestAllowOther(t *testing.T) {
	imaptest.RequireFUSE(t)
	if os.Geteuid() != 0 {
		t.Skip("running ls as another user needs root")
	}
	const nobody = 65534
	srv := seededMemory(t)
	for _, allow := range []bool{false, true} {
		name := "default"
		if allow {
			name = "allow-other"
		}
		t.Run(name, func(t *testing.T) {
			dir := mountDir(t)
			// Let nobody reach the mount point.
			if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
				t.Fatal(err)
			}
			args := []string{"mount", insecureURL(srv), dir}
			if allow {
				args = append(args, "--allow-other")
			}
			p := start(t, env("IMAPFS_PASSWORD=pass"), "", []string{dir}, args...)
			p.waitMounted(dir)
			ls := exec.Command("ls", filepath.Join(dir, "INBOX"))
			ls.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
			out, err := ls.CombinedOutput()
			if allow {
				if err != nil || len(strings.Fields(string(out))) != 7 {
					t.Errorf("ls INBOX as nobody with --allow-other: %v: %s", err, out)
				}
			} else if err == nil || !strings.Contains(string(out), "Permission denied") {
				t.Errorf("ls INBOX as nobody without --allow-other: %v: %s; want Permission denied", err, out)
			}
			p.stopAndCheck(syscall.SIGTERM, dir)
		})
	}
}

// TestOwnership checks --uid, --gid and --umask: the owner and modes stat
// shows, and that bad values are refused before mounting.
func TestOwnership(t *testing.T) {
	imaptest.RequireFUSE(t)
	srv := seededMemory(t)
	dir := mountDir(t)
	p := start(t, env("IMAPFS_PASSWORD=pass"), "", []string{dir},
		"mount", insecureURL(srv), dir, "--uid", "65534", "--gid", "65534", "--umask", "027")
	p.waitMounted(dir)
	for path, want := range map[string]os.FileMode{
		filepath.Join(dir, "INBOX"):              os.ModeDir | 0o750,
		filepath.Join(dir, "INBOX", "1"):         os.ModeDir | 0o750,
		filepath.Join(dir, "INBOX", "1", "TEXT"): 0o640,
	} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		if st.Mode() != want || sys.Uid != 65534 || sys.Gid != 65534 {
			t.Errorf("%s: mode %v uid %d gid %d, want %v 65534 65534", path, st.Mode(), sys.Uid, sys.Gid, want)
		}
	}
	p.stopAndCheck(syscall.SIGTERM, dir)
	for _, flags := range [][]string{{"--uid", "no-such-user-xyz"}, {"--umask", "999"}} {
		dir := mountDir(t)
		r := runImapfs(t, env("IMAPFS_PASSWORD=pass"), dir, append([]string{"mount", insecureURL(srv), dir}, flags...)...)
		if r.code != 2 {
			t.Errorf("%v: exit status %d, want 2; stderr:\n%s", flags, r.code, r.stderr)
		}
	}
}
