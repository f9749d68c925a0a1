package imapbackend

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// EscapeName makes one mailbox name component (a name between hierarchy delimiters, already UTF-8) usable as a directory entry: '%' -> "%25", '/' -> "%2F", NUL -> "%00"; "." -> "%2E" and ".." -> "%2E%2E"; "" -> "%". Everything else (UTF-8, spaces) is kept.
func EscapeName(s string) string {
	switch s {
	case "":
		// A lone '%' is never produced otherwise, so it cannot collide.
		return "%"
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	if !strings.ContainsAny(s, "%/\x00") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%':
			b.WriteString("%25")
		case '/':
			b.WriteString("%2F")
		case 0:
			b.WriteString("%00")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// UnescapeName reverses EscapeName; ok is false if s is not a valid escaped name (bad % sequence, or contains '/').
//
// Only the exact output of EscapeName is accepted (e.g. "%41" or "%2e" are
// rejected), so every mailbox has exactly one directory entry name and a
// lookup never finds a name that a listing does not show.
func UnescapeName(s string) (name string, ok bool) {
	switch s {
	case "%":
		return "", true
	case "%2E":
		return ".", true
	case "%2E%2E":
		return "..", true
	case "", ".", "..":
		return "", false
	}
	if strings.IndexByte(s, 0) >= 0 || strings.IndexByte(s, '/') >= 0 {
		return "", false
	}
	if strings.IndexByte(s, '%') < 0 {
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		switch s[i+1 : i+3] {
		case "25":
			b.WriteByte('%')
		case "2F":
			b.WriteByte('/')
		case "00":
			b.WriteByte(0)
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}

// SplitMailbox splits a mailbox name by its hierarchy delimiter (delim 0 = flat: one component).
func SplitMailbox(name string, delim rune) []string {
	if delim == 0 {
		return []string{name}
	}
	return strings.Split(name, string(delim))
}

// EscapeRawName makes one component of a mailbox name that is not valid
// modified UTF-7 (the server's bytes, see Mailbox.Undecodable) a directory
// entry: as EscapeName, and also '&', control characters and bytes that are
// not UTF-8 as "%XX" (upper-case hex). Those escapes never come out of
// EscapeName, so such a name never collides with a decodable one (whose
// "Q&A" is the server's "Q&-A"); UnescapeRawName reverses it.
func EscapeRawName(s string) string {
	switch s {
	case "":
		return "%"
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x80 {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || n > 1 {
				b.WriteString(s[i : i+n])
				i += n
				continue
			}
		}
		if c < 0x20 || c >= 0x7f || c == '%' || c == '/' || c == '&' {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
		i++
	}
	return b.String()
}

// UnescapeRawName reverses EscapeRawName; ok is false for a string it
// cannot have made.
func UnescapeRawName(s string) (name string, ok bool) {
	switch s {
	case "%":
		return "", true
	case "%2E":
		return ".", true
	case "%2E%2E":
		return "..", true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil || strings.ToUpper(s[i+1:i+3]) != s[i+1:i+3] {
			return "", false
		}
		b.WriteByte(byte(v))
		i += 2
	}
	name = b.String()
	return name, EscapeRawName(name) == s
}
