package main

// End-to-end tests of the imapfs command: TestMain builds the real binary
// once, and every test runs it with os/exec against an IMAP server on
// loopback, as a user would.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/imapfs/imapfs"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// binary is the imapfs command built by TestMain.
var binary string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "imapfs-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "imapfs e2e tests:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "imapfs")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "imapfs e2e tests: go build:", err)
		return 1
	}
	return m.Run()
}

const (
	mountDeadline = 15 * time.Second // for a mount to appear
	exitDeadline  = 15 * time.Second // for the process to exit once asked to
)

// env is the test's environment without any IMAPFS_ variable, plus extra.
func env(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "IMAPFS_") {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// syncBuffer is a bytes.Buffer that a process writes to while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// result is how a finished imapfs run ended.
type result struct {
	stdout, stderr string
	code           int
	elapsed        time.Duration
}

// runImapfs runs imapfs to completion (at most 30 s) in the current directory.
// If the run leaves mountpoint mounted, it is detached.
func runImapfs(t *testing.T, environ []string, mountpoint string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = environ
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	if mountpoint != "" && isMounted(t, mountpoint) {
		t.Errorf("imapfs %s left %s mounted", strings.Join(args, " "), mountpoint)
		forceUnmount(t, mountpoint)
	}
	if ctx.Err() != nil {
		t.Fatalf("imapfs %s did not finish within 30 s; stderr:\n%s", strings.Join(args, " "), stderr.String())
	}
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("run imapfs: %v", err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code, elapsed: elapsed}
}

// proc is an imapfs process running in the background.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	done   chan struct{} // closed once the process has exited
	err    error         // cmd.Wait's result, set before done is closed
}

// start starts imapfs in dir (the test's working directory if empty). When
// the test ends, the process is stopped (SIGTERM, then SIGKILL) and each of
// mountpoints still mounted is detached, so that a failing test leaves
// nothing behind.
func start(t *testing.T, environ []string, dir string, mountpoints []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, done: make(chan struct{})}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Env = environ
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start imapfs: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(exitDeadline):
				t.Errorf("imapfs %s: still running %v after SIGTERM; killing it", strings.Join(args, " "), exitDeadline)
				p.cmd.Process.Kill()
				<-p.done
			}
		}
		for _, mp := range mountpoints {
			if isMounted(t, mp) {
				forceUnmount(t, mp)
			}
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process.
func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("send %v to imapfs: %v", sig, err)
	}
}

// wait waits for the process to exit and returns its exit status.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(exitDeadline):
		p.t.Fatalf("imapfs did not exit within %v; stderr:\n%s", exitDeadline, p.stderr.String())
	}
	var exitErr *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &exitErr):
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.t.Errorf("imapfs was killed by %v", ws.Signal())
		}
		return exitErr.ExitCode()
	default:
		p.t.Fatalf("wait for imapfs: %v", p.err)
		return -1
	}
}

// waitMounted waits until mountpoint shows in /proc/self/mounts, failing
// the test if the process exits first or the deadline passes.
func (p *proc) waitMounted(mountpoint string) {
	p.t.Helper()
	deadline := time.Now().Add(mountDeadline)
	for !isMounted(p.t, mountpoint) {
		if p.exited() {
			p.t.Fatalf("imapfs exited before mounting %s (%v); stderr:\n%s", mountpoint, p.err, p.stderr.String())
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s not mounted after %v; stderr:\n%s", mountpoint, mountDeadline, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitOutput waits until the process has printed want on stdout.
func (p *proc) waitOutput(want string) {
	p.t.Helper()
	deadline := time.Now().Add(mountDeadline)
	for !strings.Contains(p.stdout.String(), want) {
		if p.exited() {
			p.t.Fatalf("imapfs exited (%v) before printing %q; stdout:\n%s\nstderr:\n%s", p.err, want, p.stdout.String(), p.stderr.String())
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("imapfs did not print %q within %v; stdout:\n%s\nstderr:\n%s", want, mountDeadline, p.stdout.String(), p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopAndCheck sends sig, then checks that imapfs exits 0, printed nothing
// on standard error and left mountpoint unmounted.
func (p *proc) stopAndCheck(sig os.Signal, mountpoint string) {
	p.t.Helper()
	p.signal(sig)
	if code := p.wait(); code != 0 {
		p.t.Errorf("after %v: exit status %d, want 0; stderr:\n%s", sig, code, p.stderr.String())
	}
	if isMounted(p.t, mountpoint) {
		p.t.Errorf("after %v and exit: %s is still mounted", sig, mountpoint)
	}
}

// isMounted reports whether dir is a mount point in /proc/self/mounts.
func isMounted(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatalf("read mounts: %v", err)
	}
	dir = filepath.Clean(dir)
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 2 && unescapeMountinfo(fields[1]) == dir {
			return true
		}
	}
	return false
}

// forceUnmount detaches a mount a test left behind.
func forceUnmount(t *testing.T, dir string) {
	t.Helper()
	if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
		t.Errorf("umount -l %s: %v: %s", dir, err, out)
	}
}

// mountDir returns a new empty directory to mount on, with symbolic links
// resolved so that it compares equal to the /proc/self/mounts entry.
func mountDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// seededMemory is imaptest.NewMemory holding the sample mail.
func seededMemory(t *testing.T) *imaptest.Server {
	t.Helper()
	srv := imaptest.NewMemory(t)
	if err := srv.Seed(imapfs.SampleMail, "testdata/mail"); err != nil {
		t.Fatal(err)
	}
	return srv
}

// memoryWithUser starts go-imap's memory server, like imaptest.NewMemory,
// but for the given user name and password (imaptest's are fixed to "user"
// and "pass", which is also a substring of "--password-file"), seeded with
// the sample mail.
func memoryWithUser(t *testing.T, username, password string) *imaptest.Server {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(username, password)
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		InsecureAuth: true,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		srv.Serve(ln)
		close(served)
	}()
	t.Cleanup(func() {
		srv.Close()
		ln.Close()
		<-served
	})
	s := &imaptest.Server{Addr: ln.Addr().String(), Username: username, Password: password, Delimiter: '/', Kind: "memory"}
	if err := s.Seed(imapfs.SampleMail, "testdata/mail"); err != nil {
		t.Fatal(err)
	}
	return s
}

// insecureURL is the imap+insecure:// URL of srv's user.
func insecureURL(srv *imaptest.Server) string {
	u := url.URL{Scheme: "imap+insecure", User: url.User(srv.Username), Host: srv.Addr}
	return u.String()
}

// messageDirs returns the names in dir that are message directories
// (decimal UIDs), failing the test if dir cannot be listed or shows any
// other visible name.
func messageDirs(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("ls %s: %v", dir, err)
	}
	var uids []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue // virtual names such as .index, hidden from ls
		}
		if _, err := strconv.ParseUint(e.Name(), 10, 32); err != nil || !e.IsDir() {
			t.Errorf("%s: unexpected entry %q (dir %v)", dir, e.Name(), e.IsDir())
			continue
		}
		uids = append(uids, e.Name())
	}
	return uids
}
