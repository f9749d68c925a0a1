package fs_test

import (
	"bytes"
	"context"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imapfs/imapfs"
	imapfsfs "github.com/imapfs/imapfs/fs"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// faultTimeout is the backend timeout of the fault tests: short, so that
// a test waiting for it is quick.
const faultTimeout = 3 * time.Second

// faultMount is a file system mounted through a fault proxy.
type faultMount struct {
	mounted
	srv   *imaptest.Server
	proxy *imaptest.FaultProxy
}

// mountFaulty seeds a Dovecot with testdata/mail and mounts it through a
// fault proxy, with a backend timeout of faultTimeout. Everything is undone
// in t.Cleanup.
func mountFaulty(t *testing.T) *faultMount {
	t.Helper()
	imaptest.RequireFUSE(t)
	srv := imaptest.NewDovecot(t, imaptest.DovecotOptions{Delimiter: '/'})
	if err := srv.Seed(imapfs.SampleMail, "testdata/mail"); err != nil {
		t.Fatal(err)
	}
	proxy, err := imaptest.NewFaultProxy(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	return &faultMount{mounted: mountVia(t, srv, proxy.Addr, faultTimeout, imapfsfs.Options{}), srv: srv, proxy: proxy}
}

// runFor runs a tool, killed after limit, and returns its output, error
// and how long it took.
func runFor(t *testing.T, limit time.Duration, name string, args ...string) (stdout, stderr string, took time.Duration, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.WaitDelay = time.Second
	start := time.Now()
	err = cmd.Run()
	took = time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("%s %s still running after %v (killed): the mount hangs", name, strings.Join(args, " "), limit)
	}
	return out.String(), errOut.String(), took, err
}

// expectEIO runs ls on dir and checks it fails with EIO within 3x the
// timeout; it returns how long it took.
func expectEIO(t *testing.T, dir string) time.Duration {
	t.Helper()
	_, stderr, took, err := runFor(t, 10*faultTimeout, "ls", dir)
	if err == nil {
		t.Fatalf("ls %s succeeded with the server unreachable", dir)
	}
	if !strings.Contains(stderr, "Input/output error") {
		t.Errorf("ls %s failed with %q, want Input/output error (EIO)", dir, strings.TrimSpace(stderr))
	}
	if took > 3*faultTimeout {
		t.Errorf("ls %s took %v to fail, want less than 3 x the %v timeout", dir, took, faultTimeout)
	}
	return took
}

// expectListing runs ls on dir and checks it lists want, within limit.
func expectListing(t *testing.T, limit time.Duration, dir string, want ...string) time.Duration {
	t.Helper()
	stdout, stderr, took, err := runFor(t, limit, "ls", dir)
	if err != nil {
		t.Fatalf("ls %s: %v\n%s", dir, err, stderr)
	}
	got := lines(stdout)
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("ls %s = %v, want %q in it", dir, got, w)
		}
	}
	return took
}

func TestFaultCutDuringLargeCopy(t *testing.T) {
	m := mountFaulty(t)
	payload := make([]byte, 8<<20+321)
	rand.New(rand.NewSource(5)).Read(payload)
	uid, err := m.srv.Append("INBOX", largeAttachmentMessage(payload), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(m.dir, "INBOX", strconv.Itoa(int(uid)), "2")
	if _, err := os.Stat(src); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "big.bin")

	// Slow the transfer down so that it is still running when cut, but
	// keep each attempt well inside the timeout.
	m.proxy.SetDelay(time.Millisecond)
	m.proxy.Reset()
	cutAt := int64(1 << 20)
	type result struct {
		stderr string
		took   time.Duration
		err    error
	}
	done := make(chan result, 1)
	cp := exec.Command("cp", src, dst)
	var cpStderr bytes.Buffer
	cp.Stderr = &cpStderr
	start := time.Now()
	if err := cp.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := cp.Wait()
		done <- result{cpStderr.String(), time.Since(start), err}
	}()
	deadline := time.Now().Add(10 * faultTimeout)
	for m.proxy.BytesFromServer() < cutAt {
		if time.Now().After(deadline) {
			t.Fatalf("only %d bytes came through in %v", m.proxy.BytesFromServer(), 10*faultTimeout)
		}
		time.Sleep(time.Millisecond)
	}
	before := m.proxy.BytesFromServer()
	cut := m.proxy.CutAll()
	t.Logf("cut %d connections after %d bytes of the transfer", cut, before)
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * faultTimeout):
		cp.Process.Kill()
		t.Fatalf("cp did not finish within %v after the cut", 10*faultTimeout)
	}
	if r.err != nil {
		t.Fatalf("cp after a cut: %v\n%s", r.err, r.stderr)
	}
	t.Logf("cp took %v; %d bytes came from the server in all", r.took, m.proxy.BytesFromServer())
	if before >= int64(len(payload)) {
		t.Errorf("the cut came after %d bytes, not in the middle of the %d byte transfer", before, len(payload))
	}
	// The part is streamed in windows of its raw base64, and the chunks
	// of a window that had come before the cut are kept: every byte came
	// at least once, and the cut cost at most what had come before it.
	encoded := int64(len(encodeBase64Lines(payload)))
	if total := m.proxy.BytesFromServer(); total < encoded || total > before+encoded {
		t.Errorf("%d bytes came from the server, %d of them before the cut, for a part of %d bytes encoded", total, before, encoded)
	}
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("cp gave %d bytes, want the original %d bytes", len(got), len(payload))
	}
}

func TestFaultServerDownThenBack(t *testing.T) {
	m := mountFaulty(t)
	expectListing(t, 10*faultTimeout, m.dir, "INBOX", "Work", "Archive")

	// Down: new connections refused, current ones reset.
	m.proxy.Refuse(true)
	m.proxy.CutAll()
	work := filepath.Join(m.dir, "Work") // never listed: nothing cached
	took := expectEIO(t, work)
	t.Logf("ls of an uncached folder with the server down failed in %v (timeout %v)", took, faultTimeout)
	// Failing again is no slower: nothing waits on a dead connection.
	took = expectEIO(t, work)
	t.Logf("and again in %v", took)

	// Back: the same mount recovers by itself.
	m.proxy.Refuse(false)
	took = expectListing(t, 10*faultTimeout, work, "1")
	t.Logf("ls after the server came back took %v", took)
}

func TestFaultStalledServerTimesOut(t *testing.T) {
	m := mountFaulty(t)
	expectListing(t, 10*faultTimeout, m.dir, "INBOX", "Work", "Archive")

	m.proxy.Stall(true)
	work := filepath.Join(m.dir, "Work")
	took := expectEIO(t, work)
	t.Logf("ls with the server stalled failed in %v (timeout %v)", took, faultTimeout)

	// A connection dialled while stalled gets no greeting: the dial is
	// bounded by the same timeout.
	m.proxy.CutAll()
	took = expectEIO(t, filepath.Join(m.dir, "Archive"))
	t.Logf("ls needing a new connection with the server stalled failed in %v", took)

	m.proxy.Stall(false)
	took = expectListing(t, 10*faultTimeout, work, "1")
	t.Logf("ls after the stall ended took %v", took)
}

func TestFaultIdleConnectionsCut(t *testing.T) {
	m := mountFaulty(t)
	expectListing(t, 10*faultTimeout, m.dir, "INBOX", "Work", "Archive")
	// The pool's idle connections are reset (a NAT timeout, a server
	// restart): the next operation redials without the caller noticing.
	for i := range 3 {
		if n := m.proxy.CutAll(); n == 0 && i == 0 {
			t.Fatal("no connection to cut: the pool keeps none idle?")
		}
		before := m.proxy.Accepted()
		took := expectListing(t, 10*faultTimeout, filepath.Join(m.dir, "Work"), "1")
		if m.proxy.Accepted() == before {
			t.Errorf("round %d: ls after a cut made no new connection", i)
		}
		t.Logf("round %d: ls after cutting every connection took %v", i, took)
		// Let the entry time out so that the next round asks the server again.
		time.Sleep(1100 * time.Millisecond)
	}
}

func TestFaultUnmountWhileServerDown(t *testing.T) {
	for _, fault := range []string{"refused", "stalled", "stalled-idle"} {
		t.Run(fault, func(t *testing.T) {
			m := mountFaulty(t)
			expectListing(t, 10*faultTimeout, m.dir, "INBOX")
			switch fault {
			case "refused":
				m.proxy.Refuse(true)
				m.proxy.CutAll()
			case "stalled", "stalled-idle":
				m.proxy.Stall(true)
			}
			// Something in flight against the dead server while unmounting:
			// while it holds the directory open the kernel says EBUSY, as
			// for any file system, but it fails within the timeout and then
			// the unmount goes through.
			// With stalled-idle nothing is in flight, and the pool keeps an
			// idle connection to the stalled server for Close to log out of.
			if fault != "stalled-idle" {
				ls := exec.Command("ls", filepath.Join(m.dir, "Work"))
				ls.Start()
				defer ls.Wait()
				time.Sleep(100 * time.Millisecond)
			}

			start := time.Now()
			deadline := start.Add(3 * faultTimeout)
			busy := 0
			for {
				done := make(chan error, 1)
				go func() { done <- m.server.Unmount() }()
				var err error
				select {
				case err = <-done:
				case <-time.After(time.Until(deadline)):
					exec.Command("umount", "-l", m.dir).Run()
					t.Fatalf("unmount with the server %s did not return within %v", fault, 3*faultTimeout)
				}
				if err == nil {
					break
				}
				if !strings.Contains(err.Error(), "busy") || time.Now().After(deadline) {
					exec.Command("umount", "-l", m.dir).Run()
					t.Fatalf("unmount with the server %s, after %v: %v", fault, time.Since(start), err)
				}
				busy++
				time.Sleep(100 * time.Millisecond)
			}
			t.Logf("unmount with the server %s took %v (%d busy retries)", fault, time.Since(start), busy)
			if out, err := exec.Command("mountpoint", "-q", m.dir).CombinedOutput(); err == nil {
				t.Errorf("%s is still a mount point after Unmount (%s)", m.dir, out)
			}
			// Logging out of the dead server is bounded too.
			start = time.Now()
			closed := make(chan struct{})
			go func() { m.backend.Close(); close(closed) }()
			select {
			case <-closed:
				t.Logf("backend.Close with the server %s took %v", fault, time.Since(start))
			case <-time.After(2 * faultTimeout):
				t.Fatalf("backend.Close with the server %s did not return within %v", fault, 2*faultTimeout)
			}
			m.server.Wait()
		})
	}
}

// TestFaultSlowTransferIsNotATimeout: the timeout counts time without a
// byte from the server, so a large part on a slow but working link arrives
// whole even when it takes longer than the timeout.
func TestFaultSlowTransferIsNotATimeout(t *testing.T) {
	m := mountFaulty(t)
	payload := make([]byte, 6<<20)
	rand.New(rand.NewSource(7)).Read(payload)
	uid, err := m.srv.Append("INBOX", largeAttachmentMessage(payload), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(m.dir, "INBOX", strconv.Itoa(int(uid)), "2")
	if _, err := os.Stat(src); err != nil {
		t.Fatal(err)
	}
	m.proxy.SetDelay(20 * time.Millisecond)
	dst := filepath.Join(t.TempDir(), "big.bin")
	_, stderr, took, err := runFor(t, 20*faultTimeout, "cp", src, dst)
	if err != nil {
		t.Fatalf("cp on a slow link: %v\n%s", err, stderr)
	}
	got, err := os.ReadFile(dst)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("cp on a slow link gave %d bytes, want the original %d", len(got), len(payload))
	}
	t.Logf("cp of %d MiB took %v with a %v timeout", len(payload)>>20, took, faultTimeout)
	if took < faultTimeout {
		t.Logf("the transfer was faster than the timeout: the test did not exercise a long transfer")
	}
}
