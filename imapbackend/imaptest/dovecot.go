package imaptest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// DovecotOptions configures StartDovecot.
type DovecotOptions struct {
	// Delimiter is the hierarchy delimiter: '/' (the default; maildir with
	// LAYOUT=fs) or '.' (Dovecot's default Maildir++ layout).
	Delimiter rune
}

const (
	dovecotUser     = "user"
	dovecotPassword = "pass"

	dovecotStartTimeout = 15 * time.Second
	dovecotStopTimeout  = 5 * time.Second
	dovecotBindAttempts = 3

	dovecotDirPrefix = "imapfs-dovecot-"
)

// errNoDovecot means the dovecot binary is not installed.
var errNoDovecot = errors.New("imaptest: dovecot not installed: apt-get install dovecot-imapd")

// StartDovecot starts a private Dovecot in the foreground, as a child
// process, with its configuration, sockets, state, logs and mail in a new
// temporary directory. It listens on a free port of 127.0.0.1 and serves
// user "user" with password "pass"; INBOX exists (Dovecot creates it on
// first access). Several can run at once. Close stops it and removes the
// directory.
func StartDovecot(opts DovecotOptions) (*Server, error) {
	bin, err := dovecotBinary()
	if err != nil {
		return nil, err
	}
	if opts.Delimiter == 0 {
		opts.Delimiter = '/'
	}
	if opts.Delimiter != '/' && opts.Delimiter != '.' {
		return nil, fmt.Errorf("imaptest: dovecot: unsupported delimiter %q (want '/' or '.')", opts.Delimiter)
	}

	// Unix socket paths are limited to 108 bytes and Dovecot puts its
	// sockets under base_dir, so keep the directory short even if TMPDIR
	// is long.
	parent := os.TempDir()
	if len(parent) > 40 {
		parent = "/tmp"
	}
	removeStaleDirs(parent)
	dir, err := os.MkdirTemp(parent, dovecotDirPrefix)
	if err != nil {
		return nil, fmt.Errorf("imaptest: dovecot: %w", err)
	}
	d := &dovecot{bin: bin, dir: dir}
	if err := d.prepare(opts.Delimiter); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// The port is picked by listening on :0 and closing, so another process
	// can take it before Dovecot binds; try again with a new port then.
	for attempt := 1; ; attempt++ {
		err = d.start()
		if err == nil || !errors.Is(err, errAddrInUse) || attempt == dovecotBindAttempts {
			break
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Server{
		Addr:      d.addr,
		Username:  dovecotUser,
		Password:  dovecotPassword,
		Delimiter: opts.Delimiter,
		Kind:      "dovecot",
		dir:       dir,
		stop:      d.stop,
	}, nil
}

// NewDovecot is StartDovecot for tests: it fails the test on error and
// stops the server when the test ends. Without a dovecot binary it skips
// the test, unless the CI environment variable is set, where a missing
// Dovecot is a broken CI image rather than a developer's laptop.
func NewDovecot(tb testing.TB, opts DovecotOptions) *Server {
	tb.Helper()
	s, err := StartDovecot(opts)
	if errors.Is(err, errNoDovecot) && os.Getenv("CI") == "" {
		tb.Skip("dovecot not installed: apt-get install dovecot-imapd")
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// dovecotPaths are where dovecot is looked for outside PATH.
var dovecotPaths = []string{"/usr/sbin/dovecot", "/usr/local/sbin/dovecot", "/opt/homebrew/sbin/dovecot"}

// dovecotBinary finds dovecot in PATH or, as /usr/sbin is often missing
// from a normal user's PATH, where Debian and most distributions put it.
func dovecotBinary() (string, error) {
	if p, err := exec.LookPath("dovecot"); err == nil {
		return p, nil
	}
	for _, p := range dovecotPaths {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", errNoDovecot
}

// dovecot is one running Dovecot instance.
type dovecot struct {
	bin  string
	dir  string
	conf dovecotConf
	addr string

	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
	waitErr error         // cmd.Wait's result, set before exited is closed
}

// dovecotConf holds the values substituted into dovecotTemplate.
type dovecotConf struct {
	Dir           string
	Port          int
	Greeting      string
	MailLocation  string
	Separator     string
	MailUID       int
	MailGID       int
	LoginUser     string
	InternalUser  string
	InternalGroup string
	Root          bool
	NoChroot      []string // services whose chroot is disabled
}

// dovecotTemplate is a complete Dovecot 2.3 configuration; nothing is read
// from /etc/dovecot. Every path is inside the temporary directory (the
// service sockets default to names relative to base_dir), so nothing
// touches /var/run/dovecot or /var/lib/dovecot and instances do not clash.
var dovecotTemplate = template.Must(template.New("dovecot.conf").Parse(`# Written by imapfs imaptest for a single test server.
base_dir = {{.Dir}}/run
state_dir = {{.Dir}}/state
log_path = {{.Dir}}/dovecot.log
protocols = imap
listen = 127.0.0.1
login_greeting = {{.Greeting}}

# Plain IMAP on loopback with a known password.
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes

default_login_user = {{.LoginUser}}
default_internal_user = {{.InternalUser}}
default_internal_group = {{.InternalGroup}}
# Dovecot refuses mail uids below first_valid_uid (500 by default).
first_valid_uid = {{.MailUID}}
first_valid_gid = {{.MailGID}}

mail_location = {{.MailLocation}}
# Test data is thrown away: do not wait for the disk.
mail_fsync = never
namespace inbox {
  inbox = yes
  prefix =
  separator = {{.Separator}}
}

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {{.Dir}}/passwd
}
userdb {
  driver = static
  args = uid={{.MailUID}} gid={{.MailGID}} home={{.Dir}}/home/%u
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = {{.Port}}
  }
  inet_listener imaps {
    port = 0
  }
}
{{if .NoChroot}}
# Not root: Dovecot cannot chroot its helper processes.
{{- end}}
{{- range .NoChroot}}
service {{.}} {
  chroot =
}
{{- end}}
`))

// chrootedServices are the services Dovecot 2.3 chroots by default, which
// it cannot do without root.
var chrootedServices = []string{"aggregator", "anvil", "director", "imap-login", "imap-urlauth-login", "ipc", "old-stats"}

// prepare writes everything but the configuration file, which depends on
// the port.
func (d *dovecot) prepare(delim rune) error {
	// MkdirTemp makes a 0700 directory, but Dovecot's unprivileged processes
	// (login, auth, the mail user) must reach the files inside.
	if err := os.Chmod(d.dir, 0o755); err != nil {
		return fmt.Errorf("imaptest: dovecot: %w", err)
	}
	c := dovecotConf{
		Dir:       d.dir,
		Greeting:  "imaptest " + filepath.Base(d.dir) + " ready.",
		Separator: string(delim),
	}
	if delim == '/' {
		// LAYOUT=fs stores Work/Projects as directories Work/Projects, which
		// lets '/' be the separator.
		c.MailLocation = "maildir:~/Maildir:LAYOUT=fs"
	} else {
		c.MailLocation = "maildir:~/Maildir"
	}
	if err := setDovecotUsers(&c); err != nil {
		return err
	}
	d.conf = c

	home := filepath.Join(d.dir, "home", dovecotUser)
	if err := os.MkdirAll(home, 0o700); err != nil {
		return fmt.Errorf("imaptest: dovecot: %w", err)
	}
	if err := os.Chmod(filepath.Dir(home), 0o755); err != nil {
		return fmt.Errorf("imaptest: dovecot: %w", err)
	}
	if c.Root {
		if err := os.Chown(home, c.MailUID, c.MailGID); err != nil {
			return fmt.Errorf("imaptest: dovecot: chown mail home: %w", err)
		}
	}
	passwd := fmt.Sprintf("%s:{PLAIN}%s\n", dovecotUser, dovecotPassword)
	// The auth process runs as the internal user, not as us.
	if err := os.WriteFile(filepath.Join(d.dir, "passwd"), []byte(passwd), 0o644); err != nil {
		return fmt.Errorf("imaptest: dovecot: %w", err)
	}
	return nil
}

// setDovecotUsers picks the system users Dovecot runs as. Dovecot refuses
// to access mail as root, so as root the mail belongs to nobody and the
// helper processes run as the users the Debian package creates. Without
// root, Dovecot cannot switch users at all and everything is the current
// user.
func setDovecotUsers(c *dovecotConf) error {
	if os.Geteuid() != 0 {
		u, err := user.Current()
		if err != nil {
			return fmt.Errorf("imaptest: dovecot: current user: %w", err)
		}
		g, err := user.LookupGroupId(strconv.Itoa(os.Getegid()))
		if err != nil {
			return fmt.Errorf("imaptest: dovecot: current group: %w", err)
		}
		c.MailUID, c.MailGID = os.Geteuid(), os.Getegid()
		c.LoginUser, c.InternalUser, c.InternalGroup = u.Username, u.Username, g.Name
		c.NoChroot = chrootedServices
		return nil
	}

	c.Root = true
	nobody, err := user.Lookup("nobody")
	if err != nil {
		return fmt.Errorf("imaptest: dovecot: mail user: %w", err)
	}
	c.MailUID, _ = strconv.Atoi(nobody.Uid)
	c.MailGID, _ = strconv.Atoi(nobody.Gid)
	if g, err := user.LookupGroup("nogroup"); err == nil {
		c.MailGID, _ = strconv.Atoi(g.Gid)
	}
	c.LoginUser = existingUser("dovenull", "nobody")
	c.InternalUser = existingUser("dovecot", "nobody")
	internal, err := user.Lookup(c.InternalUser)
	if err != nil {
		return fmt.Errorf("imaptest: dovecot: internal user: %w", err)
	}
	g, err := user.LookupGroupId(internal.Gid)
	if err != nil {
		return fmt.Errorf("imaptest: dovecot: internal group: %w", err)
	}
	c.InternalGroup = g.Name
	return nil
}

// existingUser returns name if such a user exists, else fallback.
func existingUser(name, fallback string) string {
	if _, err := user.Lookup(name); err == nil {
		return name
	}
	return fallback
}

// errAddrInUse marks a start that failed because the port was taken.
var errAddrInUse = errors.New("address already in use")

// start writes the configuration for a fresh port, starts Dovecot and waits
// until it greets clients.
func (d *dovecot) start() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	d.conf.Port = port
	d.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	var conf bytes.Buffer
	if err := dovecotTemplate.Execute(&conf, d.conf); err != nil {
		return fmt.Errorf("imaptest: dovecot config: %w", err)
	}
	confPath := filepath.Join(d.dir, "dovecot.conf")
	if err := os.WriteFile(confPath, conf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("imaptest: dovecot: %w", err)
	}
	// Errors before the log is open (a bad configuration) go to stderr.
	out, err := os.OpenFile(filepath.Join(d.dir, "dovecot.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("imaptest: dovecot: %w", err)
	}
	defer out.Close() // the child has its own copy

	// -F keeps the master in the foreground as our child, so it can be
	// stopped with a signal and dies with us (see sysProcAttr).
	d.cmd = exec.Command(d.bin, "-F", "-c", confPath)
	d.cmd.Stdout, d.cmd.Stderr = out, out
	d.cmd.SysProcAttr = sysProcAttr()
	if err := d.cmd.Start(); err != nil {
		return fmt.Errorf("imaptest: start dovecot: %w", err)
	}
	d.exited = make(chan struct{})
	go func() {
		d.waitErr = d.cmd.Wait()
		close(d.exited)
	}()

	if err := d.waitReady(); err != nil {
		d.kill()
		logs := d.logTail()
		if strings.Contains(logs, "Address already in use") {
			err = fmt.Errorf("%w: %w", err, errAddrInUse)
		}
		return fmt.Errorf("imaptest: dovecot did not start: %w\n%s", err, logs)
	}
	return nil
}

// waitReady waits until Dovecot accepts connections on d.addr and sends
// its greeting. The greeting carries the temporary directory's name, so a
// different server that grabbed the port is not mistaken for ours.
func (d *dovecot) waitReady() error {
	deadline := time.Now().Add(dovecotStartTimeout)
	for {
		select {
		case <-d.exited:
			return fmt.Errorf("dovecot exited: %v", d.waitErr)
		default:
		}
		// A short deadline per attempt: whatever holds the port may accept
		// and stay silent (Dovecot still starting, or a stranger), and
		// Dovecot's exit must be noticed.
		attempt := time.Now().Add(time.Second)
		if attempt.After(deadline) {
			attempt = deadline
		}
		greeting, err := readGreeting(d.addr, attempt)
		if err == nil {
			if strings.Contains(greeting, d.conf.Greeting) {
				return nil
			}
			// Someone else got the port between freePort and Dovecot's bind.
			return fmt.Errorf("unexpected greeting on %s: %q: %w", d.addr, greeting, errAddrInUse)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no greeting on %s after %v: %w", d.addr, dovecotStartTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readGreeting(addr string, deadline time.Time) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(deadline)
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", err
	}
	// Say goodbye so that Dovecot does not log an aborted login.
	fmt.Fprint(conn, "x LOGOUT\r\n")
	return line, nil
}

// stop stops Dovecot and removes its directory.
func (d *dovecot) stop() error {
	var errs []error
	// SIGTERM makes the master stop its children before exiting.
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		errs = append(errs, fmt.Errorf("imaptest: stop dovecot: %w", err))
	}
	select {
	case <-d.exited:
	case <-time.After(dovecotStopTimeout):
		d.kill()
	}
	// Mail processes may still be exiting and writing index files for a
	// moment after the master is gone: retry until the tree stays removed.
	var err error
	for range 20 {
		if err = os.RemoveAll(d.dir); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("imaptest: remove dovecot dir: %w", err))
	}
	return errors.Join(errs...)
}

// kill kills Dovecot and waits for it to exit.
func (d *dovecot) kill() {
	_ = d.cmd.Process.Kill()
	<-d.exited
}

// logTail returns the end of Dovecot's log and of its stdout/stderr, to
// explain a failed start.
func (d *dovecot) logTail() string {
	var b strings.Builder
	for _, name := range []string{"dovecot.out", "dovecot.log"} {
		data, err := os.ReadFile(filepath.Join(d.dir, name))
		if err != nil || len(data) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 20 {
			lines = lines[len(lines)-20:]
		}
		fmt.Fprintf(&b, "--- %s (tail) ---\n%s\n", name, strings.Join(lines, "\n"))
	}
	return b.String()
}

// removeStaleDirs removes the directories of Dovecots whose test binary was
// killed (by go test's timeout, say) before it could clean up: Pdeathsig
// killed Dovecot but the directory stayed. A directory is stale when its
// master.pid names a process that no longer exists, or when it has no
// master.pid and is old enough not to be an instance still starting up.
// Errors are ignored: this is housekeeping.
func removeStaleDirs(parent string) {
	dirs, _ := filepath.Glob(filepath.Join(parent, dovecotDirPrefix+"*"))
	for _, dir := range dirs {
		pidFile, err := os.ReadFile(filepath.Join(dir, "run", "master.pid"))
		if err != nil {
			if fi, err := os.Stat(dir); err == nil && time.Since(fi.ModTime()) > time.Hour {
				os.RemoveAll(dir)
			}
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(pidFile)))
		if err != nil || pid <= 0 {
			continue
		}
		// Signal 0 only checks for existence; a permission error means the
		// process exists.
		if p, err := os.FindProcess(pid); err == nil && errors.Is(p.Signal(syscall.Signal(0)), os.ErrProcessDone) {
			os.RemoveAll(dir)
		}
	}
}

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago. It is
// a variable so that tests can hand out a taken port.
var freePort = func() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("imaptest: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
