package fs

import (
	"mime"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/imapfs/imapfs/imapbackend"
)

// maxNameBytes is the longest file name Linux takes (NAME_MAX).
const maxNameBytes = 255

// maxExtBytes is the longest extension kept whole when a name is
// shortened; anything longer is just part of the name.
const maxExtBytes = maxNameBytes / 4

// maxAttachments bounds the files attachments/ shows for one message, so
// that a message of a million parts cannot make one listing unbounded;
// every part stays readable under its section number.
const maxAttachments = 10000

// attachmentNamings counts the messages whose attachments were named:
// once per message, however many lookups and listings follow.
var attachmentNamings atomic.Int64

// attachment is one file of a message's attachments/ directory: a part
// under a human name.
type attachment struct {
	name string
	part *imapbackend.Part
}

// attachmentIndex is a message's attachments/ directory: the files in
// part order, and by name for lookups.
type attachmentIndex struct {
	list   []attachment
	byName map[string]*imapbackend.Part
}

// namedAttachments holds a message's attachment names, made on first
// use and kept with its structure: lookups and listings share them.
type namedAttachments struct {
	once  sync.Once
	index *attachmentIndex
}

func (n *namedAttachments) get(parts []imapbackend.Part) *attachmentIndex {
	n.once.Do(func() { n.index = attachmentNames(parts) })
	return n.index
}

// isAttachment says which parts attachments/ shows: those sent as
// attachments, and every part that is neither text nor a message (images,
// PDFs, archives), named or not. Forwarded messages contribute their own
// parts, which LeafParts lists after them.
func isAttachment(p *imapbackend.Part) bool {
	if p.Disposition == "attachment" {
		return true
	}
	return !strings.HasPrefix(p.MediaType, "text/") && !p.IsMessage() && !strings.HasPrefix(p.MediaType, "multipart/")
}

// attachmentNames names the attachments of a message: decoded file names
// made safe, unique within the directory, and a made-up name for a part
// that has none. Its work is linear in the number of parts (names are
// bounded in length).
func attachmentNames(parts []imapbackend.Part) *attachmentIndex {
	attachmentNamings.Add(1)
	x := &attachmentIndex{byName: make(map[string]*imapbackend.Part)}
	u := uniquer{taken: make(map[string]bool), next: make(map[string]int)}
	for i := range parts {
		p := &parts[i]
		if !isAttachment(p) {
			continue
		}
		if len(x.list) == maxAttachments {
			break
		}
		name := safeFileName(p.Filename)
		if name == "" {
			name = safeFileName("part-" + p.Section + extensionFor(p.MediaType))
		}
		name = u.unique(name)
		x.list = append(x.list, attachment{name: name, part: p})
		x.byName[name] = p
	}
	return x
}

// safeFileName turns a sender-chosen file name into one that cannot leave
// the directory it is copied to, nor hide, nor disguise itself on a
// terminal: the last path component (after / or \), without control,
// format (bidi, zero-width) or line-separator characters nor invalid
// UTF-8, without leading dots or spaces, never "." or "..", at most 255
// bytes. "" when nothing is left.
func safeFileName(name string) string {
	name = strings.ToValidUTF8(name, "_")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if hiddenRune(r) {
			return -1
		}
		return r
	}, name)
	// Characters are dropped first, so that ". .bashrc" or "\u2066..\u2069"
	// cannot come out hidden or as "..".
	name = strings.TrimLeftFunc(name, func(r rune) bool { return r == '.' || unicode.IsSpace(r) })
	name = strings.TrimRightFunc(name, unicode.IsSpace)
	return truncateName(name, maxNameBytes)
}

// hiddenRune reports the characters a name must not carry: controls (C0,
// DEL, C1), format characters (bidi overrides and isolates such as U+202E
// and U+2066, the marks U+200E, U+200F and U+061C, zero-width U+200B to
// U+200D, U+2060 and U+FEFF) and the line and paragraph separators.
func hiddenRune(r rune) bool {
	return unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
}

// splitExt splits a name into base and extension (with its dot); an
// extension longer than maxExtBytes, or the whole name, counts as base.
func splitExt(name string) (base, ext string) {
	ext = path.Ext(name)
	if len(ext) > maxExtBytes || len(ext) == len(name) {
		return name, ""
	}
	return name[:len(name)-len(ext)], ext
}

// truncateName shortens name to at most max bytes of UTF-8, keeping its
// extension, cutting on a rune boundary.
func truncateName(name string, max int) string {
	if len(name) <= max {
		return name
	}
	base, ext := splitExt(name)
	return cutUTF8(base, max-len(ext)) + ext
}

// cutUTF8 returns the longest prefix of s of at most max bytes that ends
// on a rune boundary.
func cutUTF8(s string, max int) string {
	if max <= 0 {
		return ""
	}
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}

// uniquer hands out names not handed out before, adding " (2)", " (3)",
// ... before the extension of a name already taken.
type uniquer struct {
	taken map[string]bool
	// next is, for each shortened base and extension, the first number
	// not yet tried with it: a thousand same names, or many long names
	// that shorten alike, cost one try each, not one per earlier name.
	next map[string]int
	// tries counts the candidates looked up, for the test of linearity.
	tries int
}

func (u *uniquer) unique(name string) string {
	if !u.taken[name] {
		u.taken[name] = true
		return name
	}
	base, ext := splitExt(name)
	for n := 2; ; n++ {
		suffix := " (" + strconv.Itoa(n) + ")"
		stem := cutUTF8(base, maxNameBytes-len(suffix)-len(ext))
		key := stem + "\x00" + ext
		if m := u.next[key]; m > n {
			n = m - 1 // tried up to m-1 already: go on from m
			continue
		}
		u.next[key] = n + 1
		u.tries++
		candidate := stem + suffix + ext
		if !u.taken[candidate] {
			u.taken[candidate] = true
			return candidate
		}
	}
}

// commonExtensions covers the types mail carries most, independent of the
// machine's mime.types (often missing on servers).
var commonExtensions = map[string]string{
	"application/pdf": ".pdf", "application/zip": ".zip", "application/octet-stream": ".bin",
	"application/msword": ".doc", "application/json": ".json", "application/pgp-signature": ".asc",
	"application/pkcs7-signature": ".p7s", "image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif",
	"image/webp": ".webp", "image/svg+xml": ".svg", "text/plain": ".txt", "text/html": ".html",
	"text/csv": ".csv", "text/calendar": ".ics", "message/rfc822": ".eml", "audio/mpeg": ".mp3",
	"video/mp4": ".mp4",
}

func extensionFor(mediaType string) string {
	if ext, ok := commonExtensions[mediaType]; ok {
		return ext
	}
	if exts, _ := mime.ExtensionsByType(mediaType); len(exts) > 0 {
		return exts[0]
	}
	return ".bin"
}
