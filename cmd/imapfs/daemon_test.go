package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// daemonPID returns the process serving the mount on dir. It fails the
// test unless there is exactly one.
func daemonPID(t *testing.T, dir string) int {
	t.Helper()
	pids := daemonPIDs(t, dir)
	if len(pids) != 1 {
		t.Fatalf("processes serving %s: %v, want exactly one", dir, pids)
	}
	return pids[0]
}

// daemonPIDs returns the imapfs and mount.imapfs processes whose arguments
// name dir.
func daemonPIDs(t *testing.T, dir string) []int {
	t.Helper()
	var pids []int
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		base := filepath.Base(args[0])
		if base != "imapfs" && base != "mount.imapfs" {
			continue
		}
		for _, a := range args[1:] {
			if a == dir {
				if !processGone(pid) {
					pids = append(pids, pid)
				}
				break
			}
		}
	}
	return pids
}

// processGone reports whether pid has exited (a zombie counts: nobody
// may be reaping a daemon's remains in a container).
func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

// waitGone waits until pid has exited.
func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(exitDeadline)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			t.Errorf("%s (pid %d) still running %v later", what, pid, exitDeadline)
			syscall.Kill(pid, syscall.SIGKILL)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cleanupMount makes sure dir is not left mounted, and its daemon not left
// running, when the test ends.
func cleanupMount(t *testing.T, dir string) {
	t.Helper()
	t.Cleanup(func() {
		if isMounted(t, dir) {
			forceUnmount(t, dir)
		}
	})
}

// TestMountDaemon checks imapfs mount --daemon: it returns once the mount is
// ready, the daemon keeps serving it, logs to --log-file without any
// secret, holds no secret in its command line or environment, and exits
// once imapfs unmount has unmounted it.
func TestMountDaemon(t *testing.T) {
	imaptest.RequireFUSE(t)
	srv := memoryWithUser(t, "user", samplePassword)
	dir := mountDir(t)
	logFile := filepath.Join(t.TempDir(), "imapfs.log")
	cleanupMount(t, dir)

	r := runImapfs(t, env("IMAPFS_PASSWORD="+samplePassword), "", "mount", "--daemon", "--debug", "--log-file", logFile, insecureURL(srv), dir)
	if r.code != 0 {
		t.Fatalf("imapfs mount --daemon: exit status %d; stderr:\n%s", r.code, r.stderr)
	}
	if r.stdout != "" || r.stderr != "" {
		t.Errorf("imapfs mount --daemon printed stdout %q, stderr %q; want nothing", r.stdout, r.stderr)
	}
	// Ready means mounted when the command returns, not a moment later.
	if !isMounted(t, dir) {
		t.Fatalf("imapfs mount --daemon returned before %s was mounted", dir)
	}
	pid := daemonPID(t, dir)
	if uids := messageDirs(t, filepath.Join(dir, "INBOX")); len(uids) != 7 {
		t.Errorf("ls INBOX: %d message directories, want 7", len(uids))
	}
	if _, err := os.ReadFile(filepath.Join(dir, "INBOX", "1", "HEADER")); err != nil {
		t.Errorf("read through the daemon: %v", err)
	}
	checkProcDoesNotHold(t, pid, samplePassword)
	if sid, err := unix.Getsid(pid); err != nil || sid != pid {
		t.Errorf("daemon session id %d (%v), want its own session %d", sid, err, pid)
	}
	if cwd, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd"); err != nil || cwd != "/" {
		t.Errorf("daemon working directory %q (%v), want /", cwd, err)
	}

	u := runImapfs(t, env(), "", "unmount", dir)
	if u.code != 0 || u.stdout != "" || u.stderr != "" {
		t.Errorf("imapfs unmount: exit status %d, stdout %q, stderr %q", u.code, u.stdout, u.stderr)
	}
	if isMounted(t, dir) {
		t.Errorf("%s still mounted after imapfs unmount", dir)
	}
	waitGone(t, pid, "daemon after unmount")

	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mounted " + insecureURL(srv) + " on " + dir, "connect ", "unmounted " + dir} {
		if !strings.Contains(string(log), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(string(log), samplePassword) {
		t.Errorf("log holds the password:\n%s", log)
	}
	if st, err := os.Stat(logFile); err == nil && st.Mode().Perm()&0o077 != 0 {
		t.Errorf("log file mode %v, want readable by its owner only", st.Mode().Perm())
	}
}

// TestMountDaemonWithoutLogFile checks that --daemon without --log-file
// works where there is no syslog socket (containers), from the account's
// password in a file.
func TestMountDaemonWithoutLogFile(t *testing.T) {
	imaptest.RequireFUSE(t)
	srv := seededMemory(t)
	dir := mountDir(t)
	cleanupMount(t, dir)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runImapfs(t, env(), "", "mount", "--daemon", "--password-file", pwFile, insecureURL(srv), dir)
	if r.code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", r.code, r.stderr)
	}
	if !isMounted(t, dir) {
		t.Fatalf("%s not mounted when imapfs mount --daemon returned", dir)
	}
	pid := daemonPID(t, dir)
	// SIGTERM unmounts, as in the foreground.
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid, "daemon after SIGTERM")
	if isMounted(t, dir) {
		t.Errorf("%s still mounted after the daemon got SIGTERM", dir)
	}
}

// TestMountDaemonFails checks that a daemon that cannot mount makes
// imapfs mount --daemon fail with the reason, and leaves nothing behind.
func TestMountDaemonFails(t *testing.T) {
	imaptest.RequireFUSE(t)
	srv := seededMemory(t)
	dir := mountDir(t)
	cleanupMount(t, dir)
	const wrong = "wr0ng-Secret-77"
	r := runImapfs(t, env("IMAPFS_PASSWORD="+wrong), dir, "mount", "--daemon", insecureURL(srv), dir)
	line := checkOneErrorLine(t, r)
	if r.code != 1 {
		t.Errorf("exit status %d, want 1", r.code)
	}
	if !strings.Contains(line, "authentication failed") {
		t.Errorf("error line %q does not say the login failed", line)
	}
	if strings.Contains(r.stderr, wrong) {
		t.Errorf("error gives the password away: %q", r.stderr)
	}
	if r.elapsed > 10*time.Second {
		t.Errorf("took %v to fail", r.elapsed)
	}
}

// TestMountDaemonInterrupted checks that Ctrl-C while imapfs mount
// --daemon waits for a server that does not answer stops the daemon too.
func TestMountDaemonInterrupted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // silent: no greeting
		}
	}()
	dir := mountDir(t)
	cleanupMount(t, dir)
	p := start(t, env("IMAPFS_PASSWORD=pass"), "", []string{dir}, "mount", "--daemon", "--timeout", "20s", "imap+insecure://user@"+ln.Addr().String(), dir)
	deadline := time.Now().Add(mountDeadline)
	for len(daemonPIDs(t, dir)) < 2 { // the parent and its daemon
		if time.Now().After(deadline) || p.exited() {
			t.Fatalf("no daemon started; stderr:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.signal(syscall.SIGINT)
	if code := p.wait(); code != 1 {
		t.Errorf("exit status %d after Ctrl-C, want 1", code)
	}
	if !strings.Contains(p.stderr.String(), "interrupted") {
		t.Errorf("stderr %q does not say it was interrupted", p.stderr.String())
	}
	for _, pid := range daemonPIDs(t, dir) {
		waitGone(t, pid, "daemon after Ctrl-C")
	}
}

// TestUnmount checks imapfs unmount's refusals and its busy message.
func TestUnmount(t *testing.T) {
	imaptest.RequireFUSE(t)
	srv := seededMemory(t)

	t.Run("not mounted", func(t *testing.T) {
		dir := mountDir(t)
		r := runImapfs(t, env(), "", "unmount", dir)
		line := checkOneErrorLine(t, r)
		if r.code != 1 || !strings.Contains(line, dir+" is not mounted") {
			t.Errorf("exit status %d, line %q; want 1 and %q", r.code, line, dir+" is not mounted")
		}
	})

	t.Run("not imapfs", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("mounting a tmpfs needs root")
		}
		dir := mountDir(t)
		if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
			t.Skipf("mount tmpfs: %v", err)
		}
		defer syscall.Unmount(dir, 0)
		r := runImapfs(t, env(), "", "unmount", dir)
		line := checkOneErrorLine(t, r)
		if r.code != 1 || !strings.Contains(line, "not an imapfs mount") || !strings.Contains(line, "tmpfs") {
			t.Errorf("exit status %d, line %q; want a refusal naming tmpfs", r.code, line)
		}
		if !isMounted(t, dir) {
			t.Errorf("imapfs unmount unmounted a tmpfs")
		}
	})

	t.Run("busy", func(t *testing.T) {
		dir := mountDir(t)
		cleanupMount(t, dir)
		if r := runImapfs(t, env("IMAPFS_PASSWORD=pass"), "", "mount", "--daemon", insecureURL(srv), dir); r.code != 0 {
			t.Fatalf("mount --daemon: exit status %d: %s", r.code, r.stderr)
		}
		pid := daemonPID(t, dir)
		f, err := os.Open(filepath.Join(dir, "INBOX"))
		if err != nil {
			t.Fatal(err)
		}
		r := runImapfs(t, env(), "", "unmount", dir)
		line := checkOneErrorLine(t, r)
		if r.code != 1 || !strings.Contains(line, dir+" is busy") || !strings.Contains(line, "--lazy") {
			t.Errorf("exit status %d, line %q; want 1 and a busy message", r.code, line)
		}
		if !isMounted(t, dir) {
			t.Errorf("a busy mount was unmounted")
		}
		f.Close()
		if r := runImapfs(t, env(), "", "unmount", dir); r.code != 0 {
			t.Errorf("unmount once idle: exit status %d: %s", r.code, r.stderr)
		}
		waitGone(t, pid, "daemon")
	})

	t.Run("lazy", func(t *testing.T) {
		dir := mountDir(t)
		cleanupMount(t, dir)
		if r := runImapfs(t, env("IMAPFS_PASSWORD=pass"), "", "mount", "--daemon", insecureURL(srv), dir); r.code != 0 {
			t.Fatalf("mount --daemon: exit status %d: %s", r.code, r.stderr)
		}
		pid := daemonPID(t, dir)
		f, err := os.Open(filepath.Join(dir, "INBOX"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if r := runImapfs(t, env(), "", "unmount", "--lazy", dir); r.code != 0 {
			t.Errorf("unmount --lazy: exit status %d: %s", r.code, r.stderr)
		}
		if isMounted(t, dir) {
			t.Errorf("still mounted after unmount --lazy")
		}
		if _, err := f.Readdirnames(-1); err != nil {
			t.Errorf("readdir of a directory opened before the lazy unmount: %v", err)
		}
		f.Close()
		waitGone(t, pid, "daemon after the last file closed")
	})
}
