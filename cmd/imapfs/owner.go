package main

import (
	"fmt"
	"os/user"
	"strconv"
	"strings"

	imapfs "github.com/imapfs/imapfs/fs"
)

// ownership is --uid, --gid and --umask, as sshfs has them: who the files
// of the mount appear to belong to, and which permission bits to clear.
type ownership struct {
	uid   idValue
	gid   idValue
	umask umaskValue
}

func (o ownership) any() bool { return o.uid.set || o.gid.set || o.umask.set }

// idValue is a user or group: a number or a name.
type idValue struct {
	set   bool
	id    uint32
	group bool // look names up as groups
}

func (v *idValue) String() string {
	if v == nil || !v.set {
		return ""
	}
	return strconv.FormatUint(uint64(v.id), 10)
}

func (v *idValue) Set(s string) error {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		v.id, v.set = uint32(n), true
		return nil
	}
	var idText string
	if v.group {
		g, err := user.LookupGroup(s)
		if err != nil {
			return fmt.Errorf("no group %q", s)
		}
		idText = g.Gid
	} else {
		u, err := user.Lookup(s)
		if err != nil {
			return fmt.Errorf("no user %q", s)
		}
		idText = u.Uid
	}
	n, err := strconv.ParseUint(idText, 10, 32)
	if err != nil {
		return fmt.Errorf("%q has id %q, not a number", s, idText)
	}
	v.id, v.set = uint32(n), true
	return nil
}

// umaskValue is an octal permission mask such as 022 or 0077.
type umaskValue struct {
	set  bool
	mask uint32
}

func (v *umaskValue) String() string {
	if v == nil || !v.set {
		return ""
	}
	return fmt.Sprintf("%03o", v.mask)
}

func (v *umaskValue) Set(s string) error {
	t := strings.TrimPrefix(strings.TrimSpace(s), "0o")
	n, err := strconv.ParseUint(t, 8, 32)
	if err != nil || n > 0o777 {
		return fmt.Errorf("invalid umask %q (want octal, such as 022 or 077)", s)
	}
	v.mask, v.set = uint32(n), true
	return nil
}

// applyOwnership sets --uid, --gid and --umask in the file system's
// options.
func applyOwnership(o ownership, opts *imapfs.Options, mo *imapfs.MountOptions) {
	if o.uid.set {
		mo.UID = &o.uid.id
	}
	if o.gid.set {
		mo.GID = &o.gid.id
	}
	if o.umask.set {
		opts.Umask = &o.umask.mask
	}
}
