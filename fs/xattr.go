package fs

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	gofs "github.com/hanwen/go-fuse/v2/fs"
)

// Extended attributes of a message directory: its IMAP flags, read and
// written as one space-separated list, and two read-only facts.
const (
	xattrFlags        = "user.imap.flags"
	xattrUID          = "user.imap.uid"
	xattrInternalDate = "user.imap.internaldate"
)

var messageXattrs = []string{xattrFlags, xattrUID, xattrInternalDate,
	"user.mail.from", "user.mail.to", "user.mail.subject", "user.mail.date", "user.mail.message-id"}

var (
	_ gofs.NodeGetxattrer    = (*MessageNode)(nil)
	_ gofs.NodeSetxattrer    = (*MessageNode)(nil)
	_ gofs.NodeListxattrer   = (*MessageNode)(nil)
	_ gofs.NodeRemovexattrer = (*MessageNode)(nil)
)

func (m *MessageNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	var b []byte
	for _, name := range messageXattrs {
		b = append(append(b, name...), 0)
	}
	return copyXattr(dest, b)
}

// copyXattr follows getxattr(2): with an empty buffer it reports the size,
// with one too small it fails with ERANGE.
func copyXattr(dest, value []byte) (uint32, syscall.Errno) {
	if len(dest) == 0 {
		return uint32(len(value)), 0
	}
	if len(dest) < len(value) {
		return uint32(len(value)), syscall.ERANGE
	}
	return uint32(copy(dest, value)), 0
}

func (m *MessageNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	var value string
	switch attr {
	case xattrFlags:
		// Fresh from the server: another client may have changed them.
		flags, err := m.fsys.backend.Flags(ctx, m.mailbox, m.uidValidity, m.info.UID)
		if err != nil {
			return 0, m.fsys.errno(m.describe()+": flags", err)
		}
		value = formatFlags(flags)
	case xattrUID:
		value = strconv.FormatUint(uint64(m.info.UID), 10)
	case xattrInternalDate:
		value = m.info.InternalDate.Format(time.RFC3339)
	default:
		if !strings.HasPrefix(attr, "user.mail.") {
			return 0, syscall.ENODATA
		}
		st, err := m.structure(ctx)
		if err != nil {
			return 0, m.fsys.errno(m.describe(), err)
		}
		v, ok := envelopeField(st.Envelope, strings.TrimPrefix(attr, "user.mail."))
		if !ok {
			return 0, syscall.ENODATA
		}
		value = v
	}
	return copyXattr(dest, []byte(value))
}

// envelopeField gives what a mail reader shows, from ENVELOPE (which the
// server and go-imap have already decoded from RFC 2047 to UTF-8).
func envelopeField(env *imap.Envelope, field string) (string, bool) {
	if env == nil {
		return "", false
	}
	switch field {
	case "from":
		return formatAddresses(env.From), true
	case "to":
		return formatAddresses(env.To), true
	case "subject":
		return env.Subject, true
	case "date":
		if env.Date.IsZero() {
			return "", true
		}
		return env.Date.Format(time.RFC3339), true
	case "message-id":
		if env.MessageID == "" {
			return "", true
		}
		return "<" + env.MessageID + ">", true
	}
	return "", false
}

func formatAddresses(addrs []imap.Address) string {
	var out []string
	for _, a := range addrs {
		addr := a.Addr()
		switch {
		case addr == "":
			continue // group markers
		case a.Name != "":
			out = append(out, a.Name+" <"+addr+">")
		default:
			out = append(out, addr)
		}
	}
	return strings.Join(out, ", ")
}

// Part files describe their MIME part; HEADER, TEXT and message.eml have
// no attributes.
var partXattrs = []string{"user.mime.type", "user.mime.charset", "user.mime.encoding", "user.mime.disposition", "user.mime.filename"}

var (
	_ gofs.NodeGetxattrer  = (*SectionFile)(nil)
	_ gofs.NodeListxattrer = (*SectionFile)(nil)
)

func (f *SectionFile) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	var b []byte
	if f.part != nil {
		for _, name := range partXattrs {
			b = append(append(b, name...), 0)
		}
	}
	return copyXattr(dest, b)
}

func (f *SectionFile) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if f.part == nil {
		return 0, syscall.ENODATA
	}
	p := f.part
	var value string
	switch attr {
	case "user.mime.type":
		value = p.MediaType
	case "user.mime.charset":
		value = p.Charset
	case "user.mime.encoding":
		value = p.Encoding
	case "user.mime.disposition":
		value = p.Disposition
	case "user.mime.filename":
		value = p.Filename
	default:
		return 0, syscall.ENODATA
	}
	return copyXattr(dest, []byte(value))
}

// Setxattr of user.imap.flags replaces the message's flags (UID STORE FLAGS).
func (m *MessageNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	switch {
	case attr == xattrFlags:
	case slices.Contains(messageXattrs, attr):
		return syscall.EPERM
	default:
		return syscall.ENOTSUP
	}
	if m.fsys.readOnly {
		return syscall.EROFS
	}
	parsed, ok := parseFlags(string(data))
	if !ok {
		m.fsys.logger.Printf("%s: setfattr %s: invalid flag list %q", m.describe(), attr, data)
		return syscall.EINVAL
	}
	done := m.fsys.changingHere(m.mailbox)
	err := m.fsys.backend.SetFlags(ctx, m.mailbox, m.uidValidity, m.info.UID, parsed)
	done(err == nil)
	if err != nil {
		return m.fsys.errno(m.describe()+": set flags", err)
	}
	return 0
}

// Removexattr of user.imap.flags clears every flag.
func (m *MessageNode) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return m.Setxattr(ctx, attr, nil, 0)
}

// formatFlags leaves out \Recent: the server's session flag cannot be
// set, and what getfattr prints should be what setfattr accepts.
func formatFlags(flags []imap.Flag) string {
	var s []string
	for _, f := range flags {
		if !strings.EqualFold(string(f), `\Recent`) {
			s = append(s, string(f))
		}
	}
	return strings.Join(s, " ")
}

// systemFlags are the flags a client may set, spelled as RFC 3501 does;
// \Recent is the server's alone.
var systemFlags = map[string]imap.Flag{
	`\seen`: imap.FlagSeen, `\answered`: imap.FlagAnswered, `\flagged`: imap.FlagFlagged,
	`\deleted`: imap.FlagDeleted, `\draft`: imap.FlagDraft,
}

// parseFlags reads a space-separated flag list: system flags in any case,
// keywords as IMAP atoms. Anything else could not be sent safely.
func parseFlags(s string) ([]imap.Flag, bool) {
	flags := []imap.Flag{}
	for _, word := range strings.Fields(s) {
		if strings.HasPrefix(word, `\`) {
			f, ok := systemFlags[strings.ToLower(word)]
			if !ok {
				return nil, false
			}
			flags = append(flags, f)
			continue
		}
		if !isAtom(word) {
			return nil, false
		}
		flags = append(flags, imap.Flag(word))
	}
	return flags, true
}

// isAtom follows RFC 3501's atom: printable ASCII without atom-specials.
func isAtom(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return s != ""
}
