package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

const helperUsage = `Usage: mount.imapfs SOURCE MOUNTPOINT [-o OPTIONS] [-s] [-f] [-n] [-v]

mount.imapfs is imapfs run under that name (a link to it in /sbin), as
mount(8) runs it for file systems of type imapfs: by mount -t imapfs, and for
imapfs lines of /etc/fstab. SOURCE is an account URL or the name of an
account of the configuration file. It mounts in the background and returns
once the mount is ready, or fails with the reason.

  -o OPTIONS  comma-separated options (below); a value holding commas goes in
              double quotes: password_command="pass show mail,work"
  -s          sloppy: ignore options it does not know
  -f          fake: check the options and read the password, mount nothing
  -n, -v      no /etc/mtab (there is none to write); verbose

imapfs options (imapfs mount --help explains them):
  password_file=FILE         password_command=CMD      oauth_token_command=CMD
  read_only, ro, rw          cache_size=SIZE           timeout=DURATION
  allow_other                uid=ID  gid=ID  umask=MASK
  ca_file=FILE               tls_server_name=NAME
  log_file=FILE              debug                     config=FILE
  connections=N              poll_interval=DURATION    idle=FOLDER
  foreground                 stay in the foreground (for debugging)

Options of mount(8) and fstab that concern mount(8) or systemd, not the file
system, are accepted and ignored: defaults, auto, noauto, user, users, nouser,
owner, group, _netdev, nofail, x-systemd.*, x-*, comment=, exec, noexec, suid,
nosuid, dev, nodev, sync, async, the atime options. imapfs always mounts
nosuid,nodev,noexec.

Examples:
  mount -t imapfs imaps://me%40example.org@imap.example.org ~/mail -o password_file=~/.mailpass,ro
  mount -t imapfs work /home/me/mail/work

  # /etc/fstab
  imaps://me%40example.org@imap.example.org /home/me/mail imapfs noauto,user,_netdev,password_file=/home/me/.mailpass 0 0
`

// parseHelper parses mount(8)'s helper command line.
func parseHelper(args []string, stderr io.Writer) (*mountPlan, error) {
	var (
		pos     []string
		options []string
		sloppy  bool
		fake    bool
		verbose bool
	)
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-h" || a == "--help" || a == "-help":
			return nil, flag.ErrHelp
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case a == "-o" || a == "-t" || a == "-N":
			if i+1 == len(args) {
				return nil, usageErrorf("%s needs a value (see mount.imapfs --help)", a)
			}
			i++
			if a == "-o" {
				options = append(options, args[i])
			}
		case strings.HasPrefix(a, "-o"):
			options = append(options, a[2:])
		case strings.HasPrefix(a, "-t"), strings.HasPrefix(a, "-N"):
			// -t imapfs (or a subtype), -N namespace: nothing to do
		case len(a) > 1 && a[0] == '-':
			for _, c := range a[1:] {
				switch c {
				case 's':
					sloppy = true
				case 'f':
					fake = true
				case 'v':
					verbose = true
				case 'n':
				default:
					return nil, usageErrorf("unknown option -%c (see mount.imapfs --help)", c)
				}
			}
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) != 2 {
		return nil, usageErrorf("need SOURCE and MOUNTPOINT, got %d arguments (see mount.imapfs --help)", len(pos))
	}

	var mf mountFlags
	flags := newMountFlagSet("mount.imapfs", stderr, &mf, false)
	explicit := make(map[string]bool)
	foreground := false
	for _, group := range options {
		for _, opt := range splitOptions(group) {
			key, value, hasValue := strings.Cut(opt, "=")
			key = strings.ToLower(strings.TrimSpace(key))
			switch key {
			case "":
				continue
			case "ro":
				key, value, hasValue = "read_only", "true", true
			case "rw":
				key, value, hasValue = "read_only", "false", true
			case "foreground":
				foreground = true
				continue
			}
			name, ok := optionFlag(key)
			if !ok {
				if ignoredOption(key) || sloppy {
					continue
				}
				if refusedOption(key) {
					return nil, usageErrorf("mount option %q is not supported by imapfs", key)
				}
				return nil, usageErrorf("unknown mount option %q (see mount.imapfs --help; -s ignores unknown options)", key)
			}
			if !hasValue {
				if !isBoolFlag(flags, name) {
					return nil, usageErrorf("mount option %s needs a value: %s=... (see mount.imapfs --help)", key, key)
				}
				value = "true"
			}
			if err := flags.Set(name, value); err != nil {
				return nil, usageErrorf("mount option %s: %v", key, err)
			}
			explicit[name] = true
		}
	}
	plan, err := newPlan(flags, &mf, explicit, pos[0], pos[1], "mount.imapfs --help")
	if err != nil {
		return nil, err
	}
	plan.helper, plan.fake, plan.verbose = true, fake, verbose
	plan.mf.daemon = !foreground
	return plan, nil
}

// runHelperMain is main for mount.imapfs. Exit statuses follow mount(8):
// 1 for a wrong command line, 32 for a failed mount.
func runHelperMain(args []string, stdout, stderr io.Writer) int {
	plan, err := parseHelper(args, stderr)
	if err == nil {
		err = plan.run(stdout, stderr)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, helperUsage)
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "mount.imapfs: %v\n", err)
		return 1
	default:
		fmt.Fprintf(stderr, "mount.imapfs: %v\n", err)
		return 32
	}
}

// splitOptions splits an -o argument at commas outside double quotes, and
// drops the quotes: password_command="pass show a,b",ro.
func splitOptions(s string) []string {
	var (
		out    []string
		cur    strings.Builder
		quoted bool
	)
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ',' && !quoted:
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	return append(out, cur.String())
}

func isBoolFlag(fs *flag.FlagSet, name string) bool {
	f := fs.Lookup(name)
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// ignoredOption reports whether an option is for mount(8), systemd or the
// kernel's generic mount flags, which imapfs leaves alone (it always
// mounts nosuid,nodev,noexec, and has no use for atime or sync).
func ignoredOption(key string) bool {
	switch key {
	case "defaults", "auto", "noauto", "user", "users", "nouser", "owner", "group", "noowner", "nogroup",
		"_netdev", "nofail", "comment", "daemon",
		"exec", "noexec", "suid", "nosuid", "dev", "nodev",
		"sync", "async", "dirsync", "atime", "noatime", "diratime", "nodiratime",
		"relatime", "norelatime", "strictatime", "nostrictatime", "lazytime", "nolazytime",
		"iversion", "noiversion", "mand", "nomand", "silent", "loud",
		"context", "fscontext", "defcontext", "rootcontext", "helper":
		return true
	}
	return strings.HasPrefix(key, "x-")
}

// refusedOption reports whether an option names something imapfs cannot do.
func refusedOption(key string) bool {
	switch key {
	case "remount", "bind", "rbind", "move", "allow_root":
		return true
	}
	return false
}
