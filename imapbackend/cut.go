package imapbackend

import (
	"bytes"

	"github.com/emersion/go-imap/v2"
)

// CutParts finds the raw bytes of a multipart message's leaf parts inside
// its BODY[TEXT], as the server would send them as BODY[n], so that a
// reader of TEXT and of the parts (grep -r) costs one transfer of the
// body rather than two. It follows the MIME boundaries the structure
// names (RFC 2046, 5.1.1) and keeps a part only when its length is the
// size the server gave in BODYSTRUCTURE: a part cut anywhere else than
// where the server cuts it is left out, to be fetched by section. The
// parts of an encapsulated message (message/rfc822) are cut from it in
// turn. The result shares text's memory.
//
// The body of a message that is not multipart is its part 1 (RFC 3501,
// 6.4.5): that part is the whole TEXT, when the sizes agree. A multipart
// TEXT with a bare LF is not cut (see hasBareLF's caller).
func CutParts(st *Structure, text []byte) map[string][]byte {
	mp, ok := st.Body.(*imap.BodyStructureMultiPart)
	if !ok {
		if len(st.Parts) > 0 && st.Parts[0].Section == "1" && st.Parts[0].Size == int64(len(text)) {
			return map[string][]byte{"1": text}
		}
		return nil
	}
	if hasBareLF(text) {
		// Servers that keep bare LFs disagree on where such a part's header
		// ends and which lines are delimiters, and a cut of the wrong bytes
		// can still have the right size: leave these to be fetched by section.
		return nil
	}
	sizes := make(map[string]int64, len(st.Parts))
	for _, p := range st.Parts {
		sizes[p.Section] = p.Size
	}
	out := make(map[string][]byte)
	cutMultipart(out, sizes, mp, text, nil, 0)
	return out
}

func cutMultipart(out map[string][]byte, sizes map[string]int64, mp *imap.BodyStructureMultiPart, body []byte, path []int, depth int) {
	if mp == nil || mp.Extended == nil || depth > maxPartDepth {
		return
	}
	boundary := mp.Extended.Params["boundary"]
	if boundary == "" {
		return
	}
	entities := splitMultipart(body, boundary, len(mp.Children))
	for i, child := range mp.Children {
		if i >= len(entities) {
			return
		}
		childPath := appendPath(path, i+1)
		childBody := entityBody(entities[i])
		switch child := child.(type) {
		case *imap.BodyStructureMultiPart:
			cutMultipart(out, sizes, child, childBody, childPath, depth+1)
		case *imap.BodyStructureSinglePart:
			section := sectionString(childPath)
			if n, ok := sizes[section]; !ok || n != int64(len(childBody)) {
				continue
			}
			out[section] = childBody
			if child.MessageRFC822 != nil {
				cutMessage(out, sizes, child.MessageRFC822.BodyStructure, childBody, childPath, depth+1)
			}
		}
	}
}

// cutMessage cuts the parts of a message/rfc822 part numbered path from
// the encapsulated message msg: its body is numbered as a top-level
// body under path.
func cutMessage(out map[string][]byte, sizes map[string]int64, body imap.BodyStructure, msg []byte, path []int, depth int) {
	inner := entityBody(msg)
	switch body := body.(type) {
	case *imap.BodyStructureMultiPart:
		cutMultipart(out, sizes, body, inner, path, depth)
	case *imap.BodyStructureSinglePart:
		section := sectionString(appendPath(path, 1))
		if n, ok := sizes[section]; ok && n == int64(len(inner)) {
			out[section] = inner
			if body.MessageRFC822 != nil && depth < maxPartDepth {
				cutMessage(out, sizes, body.MessageRFC822.BodyStructure, inner, appendPath(path, 1), depth+1)
			}
		}
	}
}

// hasBareLF reports whether b has a line feed without a carriage return
// before it.
func hasBareLF(b []byte) bool {
	for i := bytes.IndexByte(b, '\n'); i >= 0; {
		if i == 0 || b[i-1] != '\r' {
			return true
		}
		j := bytes.IndexByte(b[i+1:], '\n')
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}

// splitMultipart returns the body parts of a multipart body: what lies
// between one delimiter line and the CRLF before the next, the preamble
// and epilogue left out. A delimiter is "--" boundary at the start of a
// line, followed by "--" (the last) or by white space to the end of the
// line; the CRLF before it belongs to it. A body cut short of its close
// delimiter ends its last part (a truncated message still has it; CutParts
// keeps it only at the server's size). It stops at max parts, which
// bounds what a body of tiny parts can make it allocate.
func splitMultipart(body []byte, boundary string, max int) [][]byte {
	delim := []byte("--" + boundary)
	var parts [][]byte
	start := -1 // where the current part's bytes begin
	for pos := 0; pos <= len(body); {
		at := pos
		if !(at == 0 && bytes.HasPrefix(body, delim)) {
			i := bytes.Index(body[pos:], append([]byte("\r\n"), delim...))
			if i < 0 {
				break
			}
			at = pos + i + 2
		}
		// at is the start of a line beginning with the delimiter.
		rest := body[at+len(delim):]
		lineEnd := bytes.IndexByte(rest, '\n')
		closing := bytes.HasPrefix(rest, []byte("--"))
		if !closing && (lineEnd < 0 || len(bytes.TrimRight(rest[:lineEnd], " \t\r")) != 0) {
			pos = at + len(delim) // "--boundary" starting a longer word: not a delimiter
			continue
		}
		if start >= 0 {
			end := at
			if end >= 2 && body[end-2] == '\r' && body[end-1] == '\n' {
				end -= 2
			}
			if end < start {
				end = start
			}
			parts = append(parts, body[start:end])
			if len(parts) >= max {
				return parts
			}
		}
		if closing || lineEnd < 0 {
			return parts
		}
		start = at + len(delim) + lineEnd + 1
		pos = start
		if pos == len(body) {
			break
		}
	}
	if start >= 0 && len(parts) < max {
		parts = append(parts, body[start:])
	}
	return parts
}

// entityBody is what follows an entity's header: the bytes after the first
// empty line; a part that starts with one has an empty header.
func entityBody(entity []byte) []byte {
	if bytes.HasPrefix(entity, []byte("\r\n")) {
		return entity[2:]
	}
	if i := bytes.Index(entity, []byte("\r\n\r\n")); i >= 0 {
		return entity[i+4:]
	}
	return entity[len(entity):]
}
