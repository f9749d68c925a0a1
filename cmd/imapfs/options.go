package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// mountFlags are the settings of one mount, from the command line, -o
// options and the configuration file.
type mountFlags struct {
	password     passwordSource
	oauthCommand string
	readOnly     bool
	cacheSize    byteSize
	timeout      time.Duration
	debug        bool
	allowOther   bool
	owner        ownership
	caFile       string
	serverName   string
	logFile      string
	daemon       bool
	config       string
	connections  int
	pollInterval time.Duration
	idle         folderList
}

// folderList is a repeatable flag: --idle INBOX --idle Work.
type folderList []string

func (l *folderList) String() string { return strings.Join(*l, ",") }

func (l *folderList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// idleFolders are the folders watched with IDLE: INBOX unless told.
func (mf *mountFlags) idleFolders() []string {
	if len(mf.idle) == 0 {
		return []string{"INBOX"}
	}
	return mf.idle
}

// mountOption ties a --flag to its -o spelling, which is also its key in
// the configuration file.
type mountOption struct {
	flag   string // flag name, without dashes
	option string // -o name and configuration key
	demo   bool   // imapfs demo has it too
}

var mountOptions = []mountOption{
	{"password-file", "password_file", false},
	{"password-command", "password_command", false},
	{"oauth-token-command", "oauth_token_command", false},
	{"read-only", "read_only", true},
	{"cache-size", "cache_size", true},
	{"timeout", "timeout", true},
	{"debug", "debug", true},
	{"allow-other", "allow_other", true},
	{"uid", "uid", true},
	{"gid", "gid", true},
	{"umask", "umask", true},
	{"ca-file", "ca_file", false},
	{"tls-server-name", "tls_server_name", false},
	{"log-file", "log_file", false},
	{"daemon", "daemon", false},
	{"config", "config", false},
	{"connections", "connections", true},
	{"poll-interval", "poll_interval", true},
	{"idle", "idle", true},
}

// optionFlag returns the flag an -o option or configuration key sets.
func optionFlag(option string) (string, bool) {
	for _, o := range mountOptions {
		if o.option == option {
			return o.flag, true
		}
	}
	return "", false
}

// configurable reports whether key may appear in an [accounts.NAME] table.
func configurable(key string) bool {
	f, ok := optionFlag(key)
	return ok && f != "config"
}

// newMountFlagSet declares the flags of imapfs mount, or the subset of
// them that imapfs demo takes.
func newMountFlagSet(name string, out io.Writer, mf *mountFlags, demo bool) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	mf.cacheSize = 256 << 20
	mf.owner.gid.group = true
	fs.StringVar(&mf.password.file, "password-file", "", "read the password from the first line of `FILE`")
	fs.StringVar(&mf.password.command, "password-command", "", "run `CMD` with /bin/sh and use the first line it prints as the password")
	fs.StringVar(&mf.oauthCommand, "oauth-token-command", "", "log in with an OAuth 2 access token (OAUTHBEARER or XOAUTH2): the first line `CMD` prints;\nrun again whenever the server rejects the token")
	fs.BoolVar(&mf.readOnly, "read-only", false, "open mailboxes with EXAMINE; refuse every change with EROFS")
	fs.Var(&mf.cacheSize, "cache-size", "memory for fetched content: `SIZE` such as 256MiB, 1G or a byte count")
	fs.DurationVar(&mf.timeout, "timeout", 30*time.Second, "give up on the server after `DURATION` (connecting, and every operation)")
	fs.BoolVar(&mf.debug, "debug", false, "log every IMAP operation and FUSE request (to standard error, or the log of --daemon)")
	fs.BoolVar(&mf.allowOther, "allow-other", false, "let other users access the mount (needs user_allow_other in /etc/fuse.conf);\nwithout it only the mounting user can enter")
	fs.Var(&mf.owner.uid, "uid", "show files as owned by user `ID` (number or name; default: the mounting user)")
	fs.Var(&mf.owner.gid, "gid", "show files as owned by group `ID` (number or name; default: the mounting user's group)")
	fs.Var(&mf.owner.umask, "umask", "clear the permission bits of octal `MASK` (077: only the owner may enter; default 022)")
	fs.StringVar(&mf.caFile, "ca-file", "", "trust the certificate authorities in PEM `FILE` (a private CA) instead of the system's")
	fs.StringVar(&mf.serverName, "tls-server-name", "", "expect `NAME` in the server's certificate instead of the URL's host")
	fs.StringVar(&mf.logFile, "log-file", "", "with --daemon, append the log to `FILE` instead of sending it to syslog")
	fs.BoolVar(&mf.daemon, "daemon", false, "go to the background once the mount is ready, and log to --log-file or syslog")
	fs.IntVar(&mf.connections, "connections", 4, "use at most `N` connections to the server at once (each --idle folder has one more)")
	fs.DurationVar(&mf.pollInterval, "poll-interval", 60*time.Second, "check listed folders for changes made elsewhere every `DURATION` (0: never)")
	fs.Var(&mf.idle, "idle", "watch `FOLDER` with IDLE, so its changes show within moments; repeatable (default INBOX)")
	fs.StringVar(&mf.config, "config", "", "read accounts from `FILE` (default $XDG_CONFIG_HOME/imapfs/config.toml, ~/.config/imapfs/config.toml)")
	if demo {
		keep := make(map[string]bool)
		for _, o := range mountOptions {
			keep[o.flag] = o.demo
		}
		demoSet := flag.NewFlagSet(name, flag.ContinueOnError)
		demoSet.SetOutput(out)
		fs.VisitAll(func(f *flag.Flag) {
			if keep[f.Name] {
				demoSet.Var(f.Value, f.Name, f.Usage)
			}
		})
		return demoSet
	}
	return fs
}

// explicitFlags returns the names of the flags set on the command line.
func explicitFlags(fs *flag.FlagSet) map[string]bool {
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// applyAccount fills in the flags the command line left alone from an
// account of the configuration file.
func applyAccount(fs *flag.FlagSet, explicit map[string]bool, settings accountSettings) error {
	for key, value := range settings {
		if key == "url" {
			continue
		}
		name, ok := optionFlag(key)
		if !ok || explicit[name] {
			continue
		}
		if err := fs.Set(name, value); err != nil {
			return fmt.Errorf("%s = %q: %v", key, value, err)
		}
	}
	return nil
}

// expandHome turns a leading ~/ into the home directory: -o options and
// the configuration file do not go through a shell.
func expandHome(path string) string {
	if path != "~" && !strings.HasPrefix(path, "~/") {
		return path
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return path
	}
	return filepath.Join(home, strings.TrimPrefix(path, "~"))
}
