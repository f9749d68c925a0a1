package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// mount is one imapfs mount subprocess.
type mount struct {
	dir    string
	log    string
	cmd    *exec.Cmd
	exited chan struct{}
}

const (
	mountReadyTimeout = 30 * time.Second
	idleSettleTimeout = 5 * time.Second
	unmountTimeout    = 10 * time.Second
)

// startMount mounts folder's account through proxy on dir and waits until
// the mount is ready and its IDLE connection has settled, so that its
// commands are not counted as the operation's.
func startMount(ctx context.Context, cfg *config, proxy *imaptest.LatencyProxy, folder, dir, logPath string) (*mount, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== mount %s via %s at %s\n", folder, proxy.Addr, time.Now().Format(time.RFC3339))
	url := fmt.Sprintf("imap+insecure://%s@%s", cfg.user, proxy.Addr)
	// --poll-interval 0: no periodic STATUS during a long operation; the
	// folder is watched with IDLE instead, as the issue asks.
	cmd := exec.Command(cfg.imapfs, "mount", "--read-only", "--idle", folder, "--poll-interval", "0",
		"--cache-size", cfg.cacheSize, url, dir)
	cmd.Env = append(os.Environ(), "IMAPFS_PASSWORD="+cfg.pass)
	cmd.Stdout, cmd.Stderr = logf, logf
	proxy.Reset()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start imapfs: %w", err)
	}
	m := &mount{dir: dir, log: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(m.exited)
	}()
	deadline := time.Now().Add(mountReadyTimeout)
	for !isMounted(dir) {
		select {
		case <-m.exited:
			return nil, fmt.Errorf("imapfs exited before mounting (%v):\n%s", cmd.ProcessState, tail(logPath, 15))
		case <-ctx.Done():
			m.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.stop()
			return nil, fmt.Errorf("imapfs did not mount %s within %v:\n%s", dir, mountReadyTimeout, tail(logPath, 15))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".imapfs", "status")); err != nil {
		m.stop()
		return nil, fmt.Errorf("mount not usable: %w", err)
	}
	settle := time.Now().Add(idleSettleTimeout)
	for proxy.Commands()["IDLE"] == 0 && time.Now().Before(settle) {
		time.Sleep(20 * time.Millisecond)
	}
	return m, nil
}

func (m *mount) pid() int { return m.cmd.Process.Pid }

// stop unmounts: SIGTERM (imapfs unmounts and exits), then fusermount3 -u,
// then a lazy unmount and SIGKILL. It always leaves dir unmounted.
func (m *mount) stop() error {
	select {
	case <-m.exited:
	default:
		m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.exited:
		case <-time.After(unmountTimeout):
			exec.Command("fusermount3", "-u", m.dir).Run()
			select {
			case <-m.exited:
			case <-time.After(unmountTimeout):
				m.cmd.Process.Kill()
				<-m.exited
			}
		}
	}
	if isMounted(m.dir) {
		exec.Command("fusermount3", "-u", m.dir).Run()
	}
	if isMounted(m.dir) {
		exec.Command("fusermount3", "-uz", m.dir).Run()
	}
	if isMounted(m.dir) {
		return fmt.Errorf("%s is still mounted", m.dir)
	}
	return nil
}

// isMounted reports whether something is mounted on dir: its device is
// not its parent's. A mount whose server has died answers stat with
// ENOTCONN, and is mounted still.
func isMounted(dir string) bool {
	var st, parent syscall.Stat_t
	if err := syscall.Stat(filepath.Dir(dir), &parent); err != nil {
		return false
	}
	if err := syscall.Stat(dir, &st); err != nil {
		return !errors.Is(err, syscall.ENOENT)
	}
	return st.Dev != parent.Dev
}

// resetPeakRSS sets VmHWM back to the current RSS (clear_refs 5).
func resetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// peakRSS reads VmHWM in KiB.
func peakRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
