package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// The operations, by key.
const (
	opLs   = "ls"
	opLsL  = "ls -l"
	opCat  = "cat HEADER"
	opGrep = "grep -r"
	opCp   = "cp"
	opHead = "head -c 1000"
)

var allOps = []string{opLs, opLsL, opCat, opGrep, opCp, opHead}

// opCommand is the shell command an operation runs in the mount point.
// Globs over every message are avoided (100,000 names exceed ARG_MAX):
// the folder's listing is piped instead, which is what the glob does.
func opCommand(op, folder, dest string) string {
	q := shellQuote
	switch op {
	case opLs:
		return fmt.Sprintf("ls %s | wc -l", q(folder))
	case opLsL:
		// ls -l FOLDER/*: every message directory, listed with sizes.
		return fmt.Sprintf("cd %s && ls | xargs ls -l | grep -c '^total '", q(folder))
	case opCat:
		// cat FOLDER/*/HEADER
		return fmt.Sprintf("cd %s && ls | sed 's|$|/HEADER|' | xargs cat | wc -c", q(folder))
	case opGrep:
		return fmt.Sprintf("grep -r -l %s %s; test $? -le 1", Word, q(folder))
	case opCp:
		return fmt.Sprintf("cp %s/*/2 %s", q(folder), q(dest))
	case opHead:
		return fmt.Sprintf("head -c 1000 %s/*/2", q(folder))
	}
	panic("unknown operation " + op)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// runShell runs command with sh in dir and returns its standard output.
// On timeout the whole process group is killed.
func runShell(ctx context.Context, dir, command string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Dir = dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &limitedBuffer{b: &errOut, n: 4096}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return out.Bytes(), errTimeout
	}
	if err != nil {
		return out.Bytes(), fmt.Errorf("%s: %w: %s", command, err, strings.TrimSpace(errOut.String()))
	}
	return out.Bytes(), nil
}

var errTimeout = errors.New("timed out")

// limitedBuffer keeps the first n bytes written to it.
type limitedBuffer struct {
	b *bytes.Buffer
	n int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.n - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// measureMount runs op on a fresh mount twice: the cold first pass and the
// second pass right after, on the same mount.
func (r *runner) measureMount(ctx context.Context, proxy *imaptest.LatencyProxy, cell *Cell) {
	mnt := filepath.Join(r.tmp, "mnt")
	m, err := startMount(ctx, r.cfg, proxy, cell.Folder, mnt, filepath.Join(r.tmp, "imapfs.log"))
	if err != nil {
		cell.First = &Measure{Err: err.Error()}
		r.fail(cell, "mount: %v", err)
		return
	}
	defer func() {
		if err := m.stop(); err != nil {
			r.fail(cell, "unmount: %v", err)
		}
	}()
	cell.First = r.measureOp(ctx, proxy, m, cell)
	if cell.First.Err != "" {
		return // no second pass: the first did not finish
	}
	cell.Second = r.measureOp(ctx, proxy, m, cell)
}

// measureOp runs op once on m and checks its answer.
func (r *runner) measureOp(ctx context.Context, proxy *imaptest.LatencyProxy, m *mount, cell *Cell) *Measure {
	dest := filepath.Join(r.tmp, "copy.bin")
	os.Remove(dest)
	defer os.Remove(dest)
	settle(proxy)
	rssOK := resetPeakRSS(m.pid()) == nil
	proxy.Reset()
	start := time.Now()
	out, err := runShell(ctx, m.dir, opCommand(cell.Op, cell.Folder, dest), r.cfg.opTimeout)
	wall := time.Since(start)
	// What the mount still sends once the command is done (a prefetch
	// that had been started, say) is the operation's, not the next pass's.
	settle(proxy)
	ms := &Measure{Wall: wall.Seconds(), FromServer: proxy.BytesFromServer(), ToServer: proxy.BytesToServer()}
	ms.ByName = proxy.Commands()
	// The IDLE connection's IDLE commands are its own business (DONE is
	// not a command and is not counted at all).
	delete(ms.ByName, "IDLE")
	for _, n := range ms.ByName {
		ms.Commands += n
	}
	if rssOK {
		ms.PeakRSSKiB, _ = peakRSS(m.pid())
	}
	if errors.Is(err, errTimeout) {
		ms.TimedOut = true
		ms.Err = fmt.Sprintf("timed out after %v", r.cfg.opTimeout)
		return ms
	}
	if err != nil {
		ms.Err = err.Error()
		r.fail(cell, "%v\n%s", err, tail(m.log, 10))
		return ms
	}
	result, err := r.check(cell, out, dest)
	ms.Result = result
	if err != nil {
		ms.Err = "WRONG ANSWER: " + err.Error()
		r.fail(cell, "wrong answer: %v", err)
	}
	return ms
}

// settle waits until the proxy has carried nothing for a moment (at most
// settleMax), so that the traffic of one pass is not counted in the next.
func settle(proxy *imaptest.LatencyProxy) {
	const quiet, settleMax = 200 * time.Millisecond, 10 * time.Second
	deadline := time.Now().Add(settleMax)
	last := proxy.BytesFromServer() + proxy.BytesToServer()
	for time.Now().Before(deadline) {
		time.Sleep(quiet)
		now := proxy.BytesFromServer() + proxy.BytesToServer()
		if now == last {
			return
		}
		last = now
	}
}

var uidDir = regexp.MustCompile(`^[^/]+/([0-9]+)/`)

// check compares an operation's output with what was generated.
func (r *runner) check(cell *Cell, out []byte, dest string) (string, error) {
	switch cell.Op {
	case opLs, opLsL:
		n, err := strconv.Atoi(strings.TrimSpace(string(out)))
		if err != nil {
			return "", fmt.Errorf("output %q is not a count", out)
		}
		want := r.stats[cell.Folder].Messages
		if n != want {
			return "", fmt.Errorf("%d message directories listed, want %d", n, want)
		}
		return fmt.Sprintf("%d directories", n), nil
	case opCat:
		n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		if err != nil {
			return "", fmt.Errorf("output %q is not a byte count", out)
		}
		if want, ok := r.headerBytes[cell.Folder]; ok && n != want {
			return "", fmt.Errorf("%d header bytes read, the server has %d", n, want)
		}
		return fmt.Sprintf("%d header bytes", n), nil
	case opGrep:
		uids := map[string]bool{}
		for _, line := range strings.Split(string(out), "\n") {
			if m := uidDir.FindStringSubmatch(line); m != nil {
				uids[m[1]] = true
			}
		}
		want := r.stats[cell.Folder].WordCount
		if len(uids) != want {
			return "", fmt.Errorf("grep found %s in %d messages, it is in %d", Word, len(uids), want)
		}
		return fmt.Sprintf("%d messages match", len(uids)), nil
	case opCp:
		return checkCopy(dest, r.big)
	case opHead:
		if !bytes.Equal(out, r.big.Head) {
			return "", fmt.Errorf("head gave %d bytes that differ from the attachment's first 1000", len(out))
		}
		return "1000 bytes, equal", nil
	}
	return "", fmt.Errorf("no check for %s", cell.Op)
}

func checkCopy(path string, big *BigStats) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", err
	}
	if n != big.Size {
		return "", fmt.Errorf("copied %d bytes, the attachment has %d", n, big.Size)
	}
	if !bytes.Equal(h.Sum(nil), big.SHA256[:]) {
		return "", errors.New("the copy's SHA-256 differs from the attachment's")
	}
	return "SHA-256 equal", nil
}
