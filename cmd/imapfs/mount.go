package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/imapfs/imapfs/cache"
	imapfs "github.com/imapfs/imapfs/fs"
	"github.com/imapfs/imapfs/imapbackend"
)

const mountUsage = `Usage: imapfs mount [options] URL MOUNTPOINT
       imapfs mount [options] ACCOUNT MOUNTPOINT

Mounts the IMAP account at URL, or the account called ACCOUNT in the
configuration file, on MOUNTPOINT (an existing, empty directory). It stays
in the foreground until the mount goes away (imapfs unmount MOUNTPOINT,
umount, fusermount3 -u) or is interrupted (Ctrl-C, SIGTERM); with --daemon
it returns as soon as the mount is ready and goes on in the background.

URL: imaps://USER@HOST[:993]          implicit TLS
     imap://USER@HOST[:143]           STARTTLS, required
     imap+insecure://USER@HOST[:PORT] no TLS (loopback, tests)
USER may be percent-encoded: imaps://me%40example.org@imap.example.org

The password is read from IMAPFS_PASSWORD, --password-file or
--password-command; it is never accepted on the command line. With
--oauth-token-command, an OAuth 2 access token replaces the password.

ACCOUNT names a table [accounts.ACCOUNT] of the configuration file
($XDG_CONFIG_HOME/imapfs/config.toml, by default ~/.config/imapfs/config.toml):
  [accounts.work]
  url = "imaps://me%40example.org@imap.example.org"
  password_command = "pass show mail/work"
  read_only = true
Its keys are the -o spellings of the options below (mount.imapfs --help);
options on the command line override the file.

Examples:
  IMAPFS_PASSWORD=... imapfs mount imaps://me%40example.org@imap.example.org ~/mail
  imapfs mount --password-command 'pass show mail' --read-only imaps://me%40example.org@imap.example.org ~/mail
  imapfs mount --daemon --log-file ~/.cache/imapfs.log work ~/mail/work
  imapfs mount --oauth-token-command 'oama access me@gmail.com' imaps://me%40gmail.com@imap.gmail.com ~/gmail
  imapfs mount --ca-file /etc/ssl/private-ca.pem imaps://me@mail.internal ~/mail

Options:
`

// mountPlan is everything a mount needs once the command line, the -o
// options and the configuration file have been read and checked.
type mountPlan struct {
	mf      mountFlags
	acct    imapbackend.Account
	dir     string // absolute
	tls     *tls.Config
	helper  bool // run as mount.imapfs
	fake    bool // mount.imapfs -f: check everything, mount nothing
	verbose bool // mount.imapfs -v
}

func runMount(args []string, stdout, stderr io.Writer) error {
	var mf mountFlags
	flags := newMountFlagSet("imapfs mount", stderr, &mf, false)
	flags.Usage = func() {
		fmt.Fprint(stderr, mountUsage)
		flags.PrintDefaults()
	}
	pos, err := parseInterleaved(flags, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErrorf("%v (see imapfs mount --help)", err)
	}
	if len(pos) != 2 {
		return usageErrorf("mount needs URL (or ACCOUNT) and MOUNTPOINT, got %d arguments (see imapfs mount --help)", len(pos))
	}
	plan, err := newPlan(flags, &mf, explicitFlags(flags), pos[0], pos[1], "imapfs mount --help")
	if err != nil {
		return err
	}
	return plan.run(stdout, stderr)
}

// newPlan resolves the account (from the configuration file when source
// is an account name), and checks the mount point and TLS settings.
func newPlan(flags *flag.FlagSet, mf *mountFlags, explicit map[string]bool, source, dir, help string) (*mountPlan, error) {
	rawURL := source
	if isAccountName(source) {
		path := defaultConfigPath()
		if mf.config != "" {
			path = expandHome(mf.config)
		}
		settings, err := loadAccount(path, source)
		if err != nil {
			return nil, err
		}
		if err := applyAccount(flags, explicit, settings); err != nil {
			return nil, fmt.Errorf("%s: account %q: %v", path, source, err)
		}
		rawURL = settings["url"]
	}
	acct, err := imapbackend.ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	mf.password.file = expandHome(mf.password.file)
	mf.caFile = expandHome(mf.caFile)
	mf.logFile = expandHome(mf.logFile)
	if mf.oauthCommand != "" && (mf.password.file != "" || mf.password.command != "") {
		return nil, usageErrorf("give a password (--password-file, --password-command) or --oauth-token-command, not both (see %s)", help)
	}
	if acct.Security == imapbackend.Insecure && (mf.caFile != "" || mf.serverName != "") {
		return nil, usageErrorf("--ca-file and --tls-server-name need imaps:// or imap://, not imap+insecure:// (see %s)", help)
	}
	if mf.timeout <= 0 {
		return nil, usageErrorf("--timeout must be positive (see %s)", help)
	}
	if err := checkMountpoint(dir); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("mount point: %w", err)
	}
	tlsConfig, err := imapbackend.TLSConfig(mf.caFile, mf.serverName)
	if err != nil {
		return nil, err
	}
	return &mountPlan{mf: *mf, acct: acct, dir: abs, tls: tlsConfig}, nil
}

// secrets are what logs in: read by the process the user started (which
// may ask for a passphrase on the terminal) and handed to the daemon
// through a pipe, never through its arguments or environment.
type secrets struct {
	Password string `json:"password,omitempty"`
	Token    string `json:"token,omitempty"`
}

func (p *mountPlan) readSecrets() (secrets, error) {
	if p.mf.oauthCommand != "" {
		// IMAPFS_PASSWORD is of no use with a token; still keep it out of
		// the processes started later.
		if _, ok := os.LookupEnv("IMAPFS_PASSWORD"); ok {
			os.Unsetenv("IMAPFS_PASSWORD")
			scrubEnviron("IMAPFS_PASSWORD")
		}
		tok, err := tokenCommand(p.mf.oauthCommand, os.Stdin)(context.Background())
		if err != nil {
			return secrets{}, err
		}
		return secrets{Token: tok}, nil
	}
	pw, err := p.mf.password.read()
	return secrets{Password: pw}, err
}

// run mounts: in the foreground, or through a daemon it starts and waits
// for, or, in that daemon, for real.
func (p *mountPlan) run(stdout, stderr io.Writer) error {
	if isDaemonChild() {
		return p.runDaemonChild()
	}
	s, err := p.readSecrets()
	if err != nil {
		return err
	}
	if p.fake {
		return nil
	}
	if p.mf.daemon {
		if err := p.daemonize(s); err != nil {
			return err
		}
		if p.verbose {
			fmt.Fprintf(stdout, "mounted %s on %s\n", p.acct, p.dir)
		}
		return nil
	}
	logger := log.New(stderr, "imapfs: ", logFlags(p.mf))
	return serve(p.backendConfig(s, logger, os.Stdin), p.dir, p.mf, logger, nil)
}

// logFlags are the log's prefix flags: with --debug, times to the
// microsecond, since a round trip takes milliseconds.
func logFlags(mf mountFlags) int {
	if mf.debug {
		return log.LstdFlags | log.Lmicroseconds
	}
	return log.LstdFlags
}

// backendConfig is the imapbackend configuration for the plan. stdin is
// what the token command reads when it runs again.
func (p *mountPlan) backendConfig(s secrets, logger *log.Logger, stdin io.Reader) imapbackend.Config {
	cfg := imapbackend.Config{
		Account:     p.acct,
		Password:    s.Password,
		ReadOnly:    p.mf.readOnly,
		Timeout:     p.mf.timeout,
		TLSConfig:   p.tls,
		Connections: p.mf.connections,
		MaxLiteral:  imapbackend.LiteralBound(int64(p.mf.cacheSize)),
	}
	if p.mf.oauthCommand != "" {
		cfg.OAuth = imapbackend.NewTokenSource(tokenCommand(p.mf.oauthCommand, stdin))
		if s.Token != "" {
			cfg.OAuth.SetToken(s.Token)
		}
	}
	if p.mf.debug {
		cfg.Logger = logger
	}
	return cfg
}

// serve logs in, mounts, calls ready (if set) once the mount is up, and
// waits until the mount goes away, unmounting cleanly on SIGINT and SIGTERM.
// SIGHUP drops every cache (as rclone mount does).
func serve(cfg imapbackend.Config, dir string, mf mountFlags, logger *log.Logger, ready func()) error {
	backend, err := imapbackend.Open(context.Background(), cfg)
	if err != nil {
		return err
	}
	defer backend.Close()
	setMemoryLimit(int64(mf.cacheSize))
	opts := imapfs.Options{Cache: cache.New(int64(mf.cacheSize)), Logger: logger, ReadOnly: mf.readOnly}
	mo := imapfs.MountOptions{FsName: cfg.Account.String(), Debug: mf.debug, AllowOther: mf.allowOther}
	applyOwnership(mf.owner, &opts, &mo)
	fsys := imapfs.New(backend, opts)
	// Signals are caught from before the mount: a SIGTERM that killed the
	// process while the kernel waits on it (go-fuse opens a file on the
	// new mount before Mount returns) would leave that open, and the
	// process with it, stuck for good. One that comes meanwhile unmounts
	// once the mount is up.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(signals)
	server, err := fsys.Mount(dir, mo)
	if err != nil {
		return err
	}
	watchCtx, stopWatching := context.WithCancel(context.Background())
	defer stopWatching()
	fsys.Watch(watchCtx, mf.pollInterval, mf.idleFolders())
	fsys.ListMailboxes(watchCtx)
	if ready != nil {
		ready()
	}
	go func() {
		for sig := range signals {
			if sig == syscall.SIGHUP {
				fsys.DropCaches()
				logger.Printf("SIGHUP: caches dropped")
				continue
			}
			if err := server.Unmount(); err != nil {
				logger.Printf("unmount %s: %s; detaching it lazily", dir, strings.Join(strings.Fields(err.Error()), " "))
				lazyUnmount(dir)
			}
		}
	}()
	server.Wait()
	return nil
}

// checkMountpoint refuses a mount point that does not exist, is not a
// directory, or is not empty: mounting over files hides them.
func checkMountpoint(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("mount point %s does not exist (create it with mkdir)", dir)
		}
		if errors.Is(err, syscall.ENOTCONN) {
			return fmt.Errorf("mount point %s is a mount whose imapfs is gone (transport endpoint is not connected); run imapfs unmount %s first", dir, dir)
		}
		return fmt.Errorf("mount point: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("mount point %s is not a directory", dir)
	}
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("mount point: %w", err)
	}
	defer f.Close()
	if names, _ := f.Readdirnames(1); len(names) > 0 {
		return fmt.Errorf("mount point %s is not empty", dir)
	}
	return nil
}
