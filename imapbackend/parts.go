package imapbackend

import (
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// Part describes one leaf MIME part of a message: one file in the message directory.
type Part struct {
	Section     string            // IMAP section number: "1", "1.2", "2.1.3"
	Path        []int             // the same as numbers, for go-imap's FetchItemBodySection.Part
	MediaType   string            // lower-case "text/plain", "message/rfc822"
	Params      map[string]string // Content-Type parameters, keys lower-case
	Encoding    string            // lower-case Content-Transfer-Encoding ("base64", "quoted-printable", "7bit", ...; "" if absent)
	Charset     string            // lower-case charset param, "" if none
	Disposition string            // lower-case "attachment" / "inline" / ""
	Filename    string            // disposition filename, else Content-Type name (go-imap's BodyStructureSinglePart.Filename())
	Size        int64             // encoded size in octets as the server reports it (BODYSTRUCTURE)
	Parsed      bool              // numbered by ParseStructure: cut from TEXT, never fetched by section
}

// maxPartDepth bounds the recursion so that a hostile or broken server
// answer cannot exhaust the stack.
const maxPartDepth = 64

// LeafParts lists every non-multipart part of bs in IMAP section order
// (RFC 3501 section 6.4.5, DFS pre-order).
//
// A message/rfc822 (or message/global) part is listed itself, because its
// file holds the whole encapsulated message, and is followed by the leaves
// of the encapsulated body, numbered like a top-level body under the
// part's own number: the children of a multipart inner body are N.1, N.2,
// ...; a non-multipart inner body is N.1. go-imap's Walk stops at
// message/rfc822, hence the own walker.
func LeafParts(bs imap.BodyStructure) []Part {
	var parts []Part
	walkBody(&parts, bs, nil, 0)
	return parts
}

// walkBody numbers the parts of a message body (the top-level one or an
// encapsulated one) below prefix.
func walkBody(parts *[]Part, bs imap.BodyStructure, prefix []int, depth int) {
	if depth > maxPartDepth {
		return
	}
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		walkNode(parts, bs, prefix, depth)
	case *imap.BodyStructureSinglePart:
		// A non-multipart body still gets a part number of its own:
		// "1" at the top level, "N.1" inside message/rfc822 part N.
		walkNode(parts, bs, appendPath(prefix, 1), depth)
	}
}

// walkNode handles the part whose section number is path (for a multipart,
// path is the number its children extend; nil for a top-level multipart).
func walkNode(parts *[]Part, bs imap.BodyStructure, path []int, depth int) {
	if depth > maxPartDepth {
		return
	}
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		if bs == nil {
			return
		}
		for i, child := range bs.Children {
			walkNode(parts, child, appendPath(path, i+1), depth+1)
		}
	case *imap.BodyStructureSinglePart:
		if bs == nil || len(path) == 0 {
			return
		}
		*parts = append(*parts, newPart(bs, path))
		if bs.MessageRFC822 != nil && bs.MessageRFC822.BodyStructure != nil {
			walkBody(parts, bs.MessageRFC822.BodyStructure, path, depth+1)
		}
	}
}

// appendPath never shares the backing array with path: every Part keeps
// its own Path.
func appendPath(path []int, n int) []int {
	p := make([]int, len(path), len(path)+1)
	copy(p, path)
	return append(p, n)
}

func newPart(bs *imap.BodyStructureSinglePart, path []int) Part {
	p := Part{
		Section:   sectionString(path),
		Path:      path,
		MediaType: bs.MediaType(),
		Encoding:  strings.ToLower(strings.TrimSpace(bs.Encoding)),
		Size:      int64(bs.Size),
	}
	if len(bs.Params) > 0 {
		p.Params = make(map[string]string, len(bs.Params))
		for k, v := range bs.Params {
			p.Params[strings.ToLower(k)] = v
		}
		p.Charset = strings.ToLower(strings.TrimSpace(p.Params["charset"]))
	}
	if d := bs.Disposition(); d != nil {
		p.Disposition = strings.ToLower(strings.TrimSpace(d.Value))
		p.Filename = paramValue(d.Params, "filename")
	}
	if p.Filename == "" {
		p.Filename = paramValue(bs.Params, "name") // the older Content-Type spelling
	}
	return p
}

// paramValue returns a MIME parameter, whichever way it was sent: plain
// (RFC 2047 words are already decoded by go-imap), RFC 2231 extended
// (filename*=utf-8'en'r%C3%A9sum%C3%A9.pdf), or RFC 2231 continuations
// (filename*0*=..., filename*1=...). Servers differ in how much of that
// they undo in BODYSTRUCTURE, so all forms are handled here.
func paramValue(params map[string]string, key string) string {
	if v := lookupFold(params, key+"*"); v != "" {
		return decode2231(v, true)
	}
	var b strings.Builder
	extended := false
	for i := 0; ; i++ {
		n := strconv.Itoa(i)
		if v := lookupFold(params, key+"*"+n+"*"); v != "" {
			if i == 0 {
				extended = true
			}
			b.WriteString(v)
		} else if v := lookupFold(params, key+"*"+n); v != "" {
			b.WriteString(pctEscape(v, extended))
		} else {
			break
		}
	}
	if b.Len() > 0 {
		return decode2231(b.String(), extended)
	}
	return lookupFold(params, key)
}

// pctEscape keeps a plain continuation literal inside an extended value,
// which is percent-decoded as a whole.
func pctEscape(v string, extended bool) string {
	if !extended {
		return v
	}
	return strings.ReplaceAll(v, "%", "%25")
}

// decode2231 decodes charset'language'percent-encoded-text.
func decode2231(v string, extended bool) string {
	if !extended {
		return v
	}
	parts := strings.SplitN(v, "'", 3)
	if len(parts) != 3 {
		return v
	}
	charset, text := parts[0], parts[2]
	var raw []byte
	for i := 0; i < len(text); i++ {
		if text[i] == '%' && i+2 < len(text) {
			if b, err := strconv.ParseUint(text[i+1:i+3], 16, 8); err == nil {
				raw = append(raw, byte(b))
				i += 2
				continue
			}
		}
		raw = append(raw, text[i])
	}
	return string(ToUTF8(strings.ToLower(charset), raw))
}

func lookupFold(m map[string]string, key string) string {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

func sectionString(path []int) string {
	var b strings.Builder
	for i, n := range path {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// IsMessage reports whether the part is an encapsulated message; its file
// holds the message verbatim.
func (p Part) IsMessage() bool {
	return p.MediaType == "message/rfc822" || p.MediaType == "message/global"
}

// IsInlineText reports whether the part is text meant to be read, which is
// what gets converted to UTF-8.
func (p Part) IsInlineText() bool {
	return strings.HasPrefix(p.MediaType, "text/") && p.Disposition != "attachment"
}
