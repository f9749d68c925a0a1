package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/syslog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// A daemon is the same binary started again with the same arguments and
// daemonEnv set: not a fork, which Go cannot do safely. It runs in a new
// session, with /dev/null for input and output, and finds two pipes at
// file descriptors 3 and 4:
//
//	3  its report to the parent: "ready\n" once the mount is served, or
//	   "error: REASON\n" if it could not mount
//	4  the secrets the parent read (JSON), so that they never appear in
//	   the daemon's arguments or environment
//
// The parent exits 0 on "ready", prints the reason and fails otherwise,
// so that mount(8), systemd and scripts get their answer only once the
// mount can be used.
const daemonEnv = "IMAPFS_DAEMON_CHILD"

const (
	readyFD   = 3
	secretsFD = 4
)

func isDaemonChild() bool { return os.Getenv(daemonEnv) == "1" }

// daemonError is a failure the daemon reported: the mount failed, the
// command line was fine.
type daemonError struct{ error }

// daemonize starts the daemon and waits until it reports.
func (p *mountPlan) daemonize(s secrets) error {
	var logFile *os.File
	if p.mf.logFile != "" {
		f, err := openLog(p.mf.logFile)
		if err != nil {
			return err
		}
		defer f.Close()
		logFile = f
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("start daemon: %w", err)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start daemon: %w", err)
	}
	defer readyR.Close()
	secretsR, secretsW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		return fmt.Errorf("start daemon: %w", err)
	}

	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Args[0] = os.Args[0] // mount.imapfs stays the helper
	cmd.Env = append(withoutVar(os.Environ(), daemonEnv), daemonEnv+"=1")
	cmd.ExtraFiles = []*os.File{readyW, secretsR} // fds 3 and 4
	if logFile != nil {
		cmd.Stderr = logFile // a crash's trace lands in the log
	}
	cmd.SysProcAttr = daemonSysProcAttr()
	err = cmd.Start()
	readyW.Close()
	secretsR.Close()
	if err != nil {
		secretsW.Close()
		return fmt.Errorf("start daemon: %w", err)
	}
	// The pipe holds far more than this; the write does not block.
	json.NewEncoder(secretsW).Encode(s)
	secretsW.Close()

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	report := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(readyR, 64<<10))
		report <- string(b)
	}()
	// Ctrl-C while waiting stops the daemon too: the user gave up on it.
	interrupted := make(chan os.Signal, 1)
	signal.Notify(interrupted, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(interrupted)
	// Logging in takes at most --timeout; mounting is quick.
	limit := p.mf.timeout + 30*time.Second
	select {
	case msg := <-report:
		switch {
		case msg == "ready\n":
			return nil
		case strings.HasPrefix(msg, "error: "):
			waitExit(cmd, exited)
			return daemonError{errors.New(strings.TrimSpace(strings.TrimPrefix(msg, "error: ")))}
		default:
			return daemonError{fmt.Errorf("the background process ended (%v) before the mount was ready; see %s", waitExit(cmd, exited), p.logName())}
		}
	case sig := <-interrupted:
		cmd.Process.Signal(syscall.SIGTERM)
		waitExit(cmd, exited)
		return daemonError{fmt.Errorf("interrupted (%v) before the mount was ready", sig)}
	case <-time.After(limit):
		cmd.Process.Signal(syscall.SIGTERM)
		waitExit(cmd, exited)
		return daemonError{fmt.Errorf("the mount was not ready after %v; gave up (see %s)", limit, p.logName())}
	}
}

// waitExit waits a little for the daemon to exit once it gave up, and
// returns how it ended; one that lingers is killed.
func waitExit(cmd *exec.Cmd, exited <-chan error) error {
	select {
	case err := <-exited:
		return err
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		return <-exited
	}
}

// logName says where the daemon logs.
func (p *mountPlan) logName() string {
	if p.mf.logFile != "" {
		return p.mf.logFile
	}
	return "the system log (journalctl -t imapfs)"
}

// runDaemonChild is the daemon: it mounts, reports, and serves until the
// mount goes away.
func (p *mountPlan) runDaemonChild() error {
	os.Unsetenv(daemonEnv)
	for _, fd := range []int{readyFD, secretsFD} {
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
			return fmt.Errorf("%s is set but file descriptor %d is not a pipe from imapfs: the variable is for imapfs's own use", daemonEnv, fd)
		}
	}
	syscall.CloseOnExec(readyFD)
	syscall.CloseOnExec(secretsFD)
	ready := os.NewFile(readyFD, "ready")
	secretsFile := os.NewFile(secretsFD, "secrets")
	var s secrets
	err := json.NewDecoder(secretsFile).Decode(&s)
	secretsFile.Close()
	if err != nil {
		fmt.Fprintf(ready, "error: daemon: read secrets from the parent: %v\n", err)
		ready.Close()
		return err
	}
	signal.Ignore(syscall.SIGHUP)

	logger, closeLog := daemonLogger(p.mf.logFile)
	defer closeLog()
	reported := false
	err = serve(p.backendConfig(s, logger, nil), p.dir, p.mf, logger, func() {
		logger.Printf("mounted %s on %s (pid %d)", p.acct, p.dir, os.Getpid())
		fmt.Fprint(ready, "ready\n")
		ready.Close()
		reported = true
		// Keep no directory busy: the mount point's parent may be a mount
		// that someone wants to unmount.
		os.Chdir("/")
	})
	if err != nil {
		logger.Printf("mount %s on %s: %v", p.acct, p.dir, err)
		if !reported {
			fmt.Fprintf(ready, "error: %s\n", oneLine(err.Error()))
			ready.Close()
		}
		return err
	}
	logger.Printf("unmounted %s", p.dir)
	return nil
}

// openLog opens the --log-file for appending, readable by its owner only:
// with --debug it names every mailbox and message touched.
func openLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	return f, nil
}

// daemonLogger logs to the --log-file, or else to syslog as "imapfs"; a
// system without a syslog socket (a container) gets no log rather than a
// failed mount.
func daemonLogger(path string) (*log.Logger, func()) {
	if path != "" {
		if f, err := openLog(path); err == nil {
			return log.New(f, "imapfs: ", log.LstdFlags), func() { f.Close() }
		}
	}
	if w, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "imapfs"); err == nil {
		return log.New(w, "", 0), func() { w.Close() }
	}
	return log.New(io.Discard, "", 0), func() {}
}

// withoutVar returns environ without name.
func withoutVar(environ []string, name string) []string {
	var out []string
	for _, kv := range environ {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// daemonSysProcAttr puts the daemon in a session of its own: no terminal
// to lose, no signal from the shell's job control.
func daemonSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true}
}
