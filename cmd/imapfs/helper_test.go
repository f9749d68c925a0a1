package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imapfs/imapfs"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// helperPath is where mount(8) looks for the helper of type imapfs; it
// searches /sbin only (and /sbin/fs.d, /sbin/fs).
const helperPath = "/sbin/mount.imapfs"

// installHelper links helperPath to the binary under test for the rest of
// the test. Only root may, so other users skip (CI runs as root); a helper
// installed for real is left alone. A lock keeps concurrent test runs on
// the machine from taking the link from under each other.
func installHelper(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "mount -t imapfs needs "+helperPath+", which only root may create: run the tests as root")
	}
	if _, err := exec.LookPath("mount"); err != nil {
		skipOrFail(t, "mount(8) is not installed")
	}
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "imapfs-test-mount-helper.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() }) // releases the lock
	if target, err := os.Readlink(helperPath); err == nil {
		// A link to a test binary was left by a test run that was killed.
		if !strings.Contains(target, "imapfs-e2e-") {
			skipOrFail(t, fmt.Sprintf("%s is installed (-> %s); not replacing it with the binary under test", helperPath, target))
		}
		os.Remove(helperPath)
	} else if _, err := os.Lstat(helperPath); err == nil {
		skipOrFail(t, helperPath+" is installed; not replacing it with the binary under test")
	}
	if err := os.Symlink(binary, helperPath); err != nil {
		t.Fatalf("install the mount helper: %v", err)
	}
	t.Cleanup(func() {
		if err := os.Remove(helperPath); err != nil {
			t.Errorf("remove the mount helper: %v", err)
		}
	})
}

func skipOrFail(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// seededDovecot is a Dovecot holding the sample mail.
func seededDovecot(t *testing.T) *imaptest.Server {
	t.Helper()
	srv := imaptest.NewDovecot(t, imaptest.DovecotOptions{})
	if err := srv.Seed(imapfs.SampleMail, "testdata/mail"); err != nil {
		t.Fatal(err)
	}
	return srv
}

// passwordFile writes password to a new file and returns its path.
func passwordFile(t *testing.T, password string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "mailpass")
	if err := os.WriteFile(file, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// runCommand runs a command other than imapfs to completion.
func runCommand(t *testing.T, environ []string, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = environ
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s %s did not finish within 30 s; stderr:\n%s", name, strings.Join(args, " "), stderr.String())
	}
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code, elapsed: time.Since(start)}
}

// checkServedAndUnmount checks that dir, mounted by mount(8), is ready and
// serves the sample mail read-only or not, that the daemon holds no
// password, and that umount(8) ends mount and daemon.
func checkServedAndUnmount(t *testing.T, dir, password string, readOnly bool) {
	t.Helper()
	if !isMounted(t, dir) {
		t.Fatalf("mount returned before %s was mounted", dir)
	}
	pid := daemonPID(t, dir)
	if uids := messageDirs(t, filepath.Join(dir, "INBOX")); len(uids) != 7 {
		t.Errorf("ls INBOX: %d message directories, want 7", len(uids))
	}
	err := os.Mkdir(filepath.Join(dir, "Lists"), 0o755)
	if readOnly && !errors.Is(err, syscall.EROFS) {
		t.Errorf("mkdir on a ro mount: %v, want EROFS", err)
	}
	if !readOnly && err != nil {
		t.Errorf("mkdir on a rw mount: %v", err)
	}
	checkProcDoesNotHold(t, pid, password)
	if r := runCommand(t, env(), "umount", dir); r.code != 0 {
		t.Fatalf("umount %s: exit status %d: %s", dir, r.code, r.stderr)
	}
	if isMounted(t, dir) {
		t.Errorf("%s still mounted after umount", dir)
	}
	waitGone(t, pid, "mount.imapfs daemon after umount")
}

// TestMountTypeImapfs runs mount -t imapfs against Dovecot, as the README
// shows, with the helper installed as /sbin/mount.imapfs.
func TestMountTypeImapfs(t *testing.T) {
	imaptest.RequireFUSE(t)
	installHelper(t)
	srv := seededDovecot(t)
	pw := passwordFile(t, srv.Password)
	dir := mountDir(t)
	cleanupMount(t, dir)
	r := runCommand(t, env(), "mount", "-t", "imapfs", insecureURL(srv), dir, "-o", "password_file="+pw+",ro")
	if r.code != 0 {
		t.Fatalf("mount -t imapfs: exit status %d; stderr:\n%s", r.code, r.stderr)
	}
	if r.stdout != "" || r.stderr != "" {
		t.Errorf("mount -t imapfs printed stdout %q, stderr %q", r.stdout, r.stderr)
	}
	checkServedAndUnmount(t, dir, srv.Password, true)
}

// TestMountFstab mounts from an fstab line with the options an fstab entry
// for a user mount carries, through mount -T FILE DIR (mount --fstab).
func TestMountFstab(t *testing.T) {
	imaptest.RequireFUSE(t)
	installHelper(t)
	srv := seededDovecot(t)
	pw := passwordFile(t, srv.Password)
	dir := mountDir(t)
	cleanupMount(t, dir)
	fstab := filepath.Join(t.TempDir(), "fstab")
	line := fmt.Sprintf("%s %s imapfs noauto,user,_netdev,nofail,x-systemd.automount,x-systemd.idle-timeout=5min,password_file=%s,cache_size=16MiB 0 0\n", insecureURL(srv), dir, pw)
	if err := os.WriteFile(fstab, []byte("# test fstab\n"+line), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCommand(t, env(), "mount", "-T", fstab, dir)
	if r.code != 0 {
		t.Fatalf("mount -T %s %s: exit status %d; stderr:\n%s", fstab, dir, r.code, r.stderr)
	}
	checkServedAndUnmount(t, dir, srv.Password, false)
}

// TestMountTypeImapfsFails checks that mount -t imapfs reports a failed
// login with the helper's reason, a mount(8) failure status, and nothing
// mounted.
func TestMountTypeImapfsFails(t *testing.T) {
	imaptest.RequireFUSE(t)
	installHelper(t)
	srv := seededMemory(t)
	const wrong = "Wr0ng-pw-551"
	pw := passwordFile(t, wrong)
	dir := mountDir(t)
	cleanupMount(t, dir)
	r := runCommand(t, env(), "mount", "-t", "imapfs", insecureURL(srv), dir, "-o", "password_file="+pw)
	if r.code != 32 {
		t.Errorf("exit status %d, want 32 (mount failure)", r.code)
	}
	if !strings.Contains(r.stderr, "mount.imapfs: ") || !strings.Contains(r.stderr, "authentication failed") {
		t.Errorf("stderr does not give the reason:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr+r.stdout, wrong) {
		t.Errorf("output gives the password away:\n%s", r.stderr)
	}
	if isMounted(t, dir) {
		t.Errorf("%s mounted after a failed login", dir)
	}
}

// helperBinary returns a link named mount.imapfs to the binary under test,
// for running the helper directly (as mount(8) would), without root.
func helperBinary(t *testing.T) string {
	t.Helper()
	link := filepath.Join(t.TempDir(), "mount.imapfs")
	if err := os.Symlink(binary, link); err != nil {
		t.Fatal(err)
	}
	return link
}

// TestHelperOptions runs mount.imapfs directly with the option lists
// mount(8) passes: generic options are accepted, unknown ones refused
// unless -s, and every imapfs option has an -o spelling that works.
func TestHelperOptions(t *testing.T) {
	helper := helperBinary(t)
	srv := seededMemory(t)
	pw := passwordFile(t, srv.Password)
	dir := mountDir(t)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string // in stderr
	}{
		{"generic options", []string{"-f", "-o", "defaults,rw,auto,noauto,user,users,nouser,user=me,owner,_netdev,nofail,x-systemd.automount,x-systemd.mount-timeout=30,comment=x,exec,noexec,suid,nosuid,dev,nodev,atime,noatime,relatime,strictatime,sync,async"}, 0, ""},
		{"imapfs options", []string{"-f", "-n", "-o", "password_file=" + pw + ",read_only,ro,rw,cache_size=16MiB,timeout=10s,debug,allow_other,log_file=/dev/null,foreground,daemon,config=/nonexistent"}, 0, ""},
		{"password twice", []string{"-f", "-o", "password_file=" + pw, "-o", `password_command="printf pass"`}, 1, "not both"},
		{"quoted value with comma", []string{"-f", "-o", `password_command="printf pass,x",ro`}, 0, ""},
		{"unknown option", []string{"-f", "-o", "ro,frobnicate=1"}, 1, `unknown mount option "frobnicate"`},
		{"unknown option, sloppy", []string{"-f", "-s", "-o", "ro,frobnicate=1", "-o", "password_file=" + pw}, 0, ""},
		{"option without its value", []string{"-f", "-o", "password_file"}, 1, "password_file needs a value"},
		{"bad value", []string{"-f", "-o", "cache_size=lots"}, 1, "cache_size"},
		{"refused option", []string{"-f", "-o", "remount"}, 1, "not supported"},
		{"missing mount point", []string{"-f"}, 1, "need SOURCE and MOUNTPOINT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{insecureURL(srv), dir}
			if tt.name == "missing mount point" {
				args = args[:1]
			}
			args = append(args, tt.args...)
			r := runCommand(t, env("IMAPFS_PASSWORD=pass"), helper, args...)
			if r.code != tt.wantCode {
				t.Errorf("mount.imapfs %s: exit status %d, want %d; stderr:\n%s", strings.Join(args, " "), r.code, tt.wantCode, r.stderr)
			}
			if tt.want != "" && !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, r.stderr)
			}
			if tt.want == "" && r.stderr != "" {
				t.Errorf("stderr: %q, want nothing", r.stderr)
			}
			if isMounted(t, dir) {
				t.Errorf("mount.imapfs -f mounted %s", dir)
				forceUnmount(t, dir)
			}
		})
	}
}

// TestHelperDirect runs mount.imapfs as mount(8) would, but directly (no
// root needed): it returns once the mount is ready, -v says so, and the
// daemon serves until imapfs unmount.
func TestHelperDirect(t *testing.T) {
	imaptest.RequireFUSE(t)
	helper := helperBinary(t)
	srv := seededMemory(t)
	dir := mountDir(t)
	cleanupMount(t, dir)
	r := runCommand(t, env(), helper, insecureURL(srv), dir, "-v", "-o", "password_command=printf pass,ro,noauto,_netdev")
	if r.code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", r.code, r.stderr)
	}
	if want := "mounted " + insecureURL(srv) + " on " + dir; !strings.Contains(r.stdout, want) {
		t.Errorf("-v printed %q, want %q", r.stdout, want)
	}
	if !isMounted(t, dir) {
		t.Fatalf("%s not mounted when mount.imapfs returned", dir)
	}
	pid := daemonPID(t, dir)
	if err := os.Mkdir(filepath.Join(dir, "INBOX", "new"), 0o755); !errors.Is(err, syscall.EROFS) {
		t.Errorf("mkdir with -o ro: %v, want EROFS", err)
	}
	if u := runImapfs(t, env(), "", "unmount", dir); u.code != 0 {
		t.Errorf("imapfs unmount: exit status %d: %s", u.code, u.stderr)
	}
	waitGone(t, pid, "daemon")
}

// TestHelperHelp checks mount.imapfs --help.
func TestHelperHelp(t *testing.T) {
	r := runCommand(t, env(), helperBinary(t), "--help")
	if r.code != 0 {
		t.Errorf("exit status %d", r.code)
	}
	for _, want := range []string{"Usage: mount.imapfs SOURCE MOUNTPOINT", "password_file=FILE", "oauth_token_command=CMD", "uid=ID", "_netdev", "Examples:", "/etc/fstab"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("mount.imapfs --help lacks %q:\n%s", want, r.stdout)
		}
	}
}
