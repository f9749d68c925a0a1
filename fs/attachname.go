package fs

import (
	"mime"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/imapfs/imapfs/imapbackend"
)

// attachment is one file of a message's attachments/ directory: a part
// under a human name.
type attachment struct {
	name string
	part *imapbackend.Part
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
// that has none.
func attachmentNames(parts []imapbackend.Part) []attachment {
	var out []attachment
	taken := make(map[string]bool)
	for i := range parts {
		p := &parts[i]
		if !isAttachment(p) {
			continue
		}
		name := safeFileName(p.Filename)
		if name == "" {
			name = "part-" + p.Section + extensionFor(p.MediaType)
		}
		name = unique(name, taken)
		taken[name] = true
		out = append(out, attachment{name: name, part: p})
	}
	return out
}

// safeFileName turns a sender-chosen file name into one that cannot leave
// the directory it is copied to, nor hide, nor break a terminal: the last
// path component (after / or \), without control characters or invalid
// UTF-8, without leading dots, at most 255 bytes. "" when nothing is left.
func safeFileName(name string) string {
	name = strings.ToValidUTF8(name, "_")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(name), "."))
	return truncateName(name, 255)
}

// truncateName shortens name to at most max bytes of UTF-8, keeping its
// extension.
func truncateName(name string, max int) string {
	if len(name) <= max {
		return name
	}
	ext := path.Ext(name)
	if len(ext) > max/4 {
		ext = ""
	}
	base := name[:max-len(ext)]
	for !utf8.ValidString(base) {
		base = base[:len(base)-1]
	}
	return base + ext
}

// unique adds " (2)", " (3)", ... before the extension of a name already
// taken.
func unique(name string, taken map[string]bool) string {
	if !taken[name] {
		return name
	}
	ext := path.Ext(name)
	base := strings.TrimSuffix(name, ext)
	for n := 2; ; n++ {
		suffix := " (" + strconv.Itoa(n) + ")"
		candidate := truncateName(base, 255-len(suffix)-len(ext)) + suffix + ext
		if !taken[candidate] {
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
