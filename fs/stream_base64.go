package fs

import (
	"bytes"
	"encoding/base64"
	"errors"

	"github.com/imapfs/imapfs/imapbackend"
)

// A base64 part is stored as the sender encoded it: lines of a fixed
// number of characters (76 by RFC 2045's limit, nearly always), each ended
// by CRLF. With that layout the raw bytes holding any decoded range are
// known without reading what comes before, so the part can be streamed in
// raw windows (BODY.PEEK[2]<o.n>) and decoded here. That beats asking the
// server to decode (BINARY.PEEK[2]<o.n>): Dovecot decodes the whole part
// into a per-process cache on the first such request, which costs as much
// as fetching it whole, again on every connection, and makes `head` of a
// 100 MB attachment wait for all of it to be decoded.
//
// The layout is an assumption each window checks: a window whose line
// ends are not where the layout puts them, or that holds anything but the
// base64 alphabet, fails with errLayout, and the file is fetched whole and
// decoded here (streamHandle.readWhole).

// b64Layout is base64 text in lines of line characters (a multiple of 4),
// each followed by a line end of eol bytes ("\r\n" or "\n").
type b64Layout struct {
	line int64
	eol  int64
}

// defaultLayout is what nearly every encoder writes.
var defaultLayout = b64Layout{line: 76, eol: 2}

// errLayout reports raw bytes that do not fit the assumed layout.
var errLayout = errors.New("base64 part not laid out in regular lines")

// rawOffset is where base64 character c is in the raw part.
func (l b64Layout) rawOffset(c int64) int64 {
	return c/l.line*(l.line+l.eol) + c%l.line
}

// rawRange returns the raw bytes [r0, r1) that hold the decoded bytes
// [d0, d1), the index of the first base64 character there, and how many
// decoded bytes to drop in front of d0 (d0 need not start a group of 3).
func (l b64Layout) rawRange(d0, d1 int64) (r0, r1, c0, skip int64) {
	g0, g1 := d0/3, (d1+2)/3
	c0 = 4 * g0
	return l.rawOffset(c0), l.rawOffset(4*g1-1) + 1, c0, d0 - 3*g0
}

// decode checks raw, whose first byte is base64 character c0, against the
// layout and decodes it into memory from alloc. It overwrites raw: the
// characters are gathered in place, a line at a time, since a window and
// its decoding are the largest buffers imapfs holds beyond its cache.
func (l b64Layout) decode(raw []byte, c0 int64, alloc func(n int) []byte) ([]byte, error) {
	clean := raw[:0]
	pos := c0 % l.line
	for i := int64(0); i < int64(len(raw)); {
		if pos == l.line {
			switch {
			case l.eol == 2 && i+1 < int64(len(raw)) && raw[i] == '\r' && raw[i+1] == '\n':
			case l.eol == 1 && raw[i] == '\n':
			default:
				return nil, errLayout
			}
			i, pos = i+l.eol, 0
			continue
		}
		n := min(l.line-pos, int64(len(raw))-i)
		clean = append(clean, raw[i:i+n]...) // never past i: a move within raw
		i, pos = i+n, pos+n
	}
	if len(clean)%4 != 0 {
		return nil, errLayout
	}
	pad := len(clean) - len(bytes.TrimRight(clean, "="))
	out := alloc(len(clean) / 4 * 3)
	// The decoder checks the alphabet, and skips CR and LF, which a line
	// must not hold: the count of bytes out tells.
	n, err := base64.StdEncoding.Decode(out, clean)
	if err != nil || n != len(out)-pad {
		return nil, errLayout
	}
	return out[:n], nil
}

// unbroken is the layout of base64 in one line, as some encoders write it.
var unbroken = b64Layout{line: 1 << 60, eol: 2}

// windowLayout reads the layout from the first window of a raw part: its
// first line, or one unbroken line when the window holds no line end.
func windowLayout(raw []byte) (b64Layout, bool) {
	if bytes.IndexByte(raw, '\n') < 0 && isBase64Text(raw) {
		return unbroken, true
	}
	return detectLayout(raw)
}

// detectLayout reads the layout from the first line of a raw part.
func detectLayout(raw []byte) (b64Layout, bool) {
	i := bytes.IndexByte(raw, '\n')
	if i <= 0 {
		return b64Layout{}, false
	}
	l := b64Layout{line: int64(i), eol: 1}
	if raw[i-1] == '\r' {
		l = b64Layout{line: int64(i - 1), eol: 2}
	}
	if l.line == 0 || l.line%4 != 0 {
		return b64Layout{}, false
	}
	return l, true
}

// base64Size works out the decoded size of a base64 part of size raw bytes
// (BODYSTRUCTURE's number) from a probe of its two ends, without fetching
// it: the head shows the layout, the tail the last line and its padding,
// and a regular layout places everything between. It is what the file's
// size is taken to be before its bytes are read; a part that is not laid
// out so (or whose size the tail contradicts) gives false, and is fetched
// to learn its size. The stream checks the layout again on every window
// (fetchFrom), and a part that breaks it is fetched whole and its size
// corrected (Read).
func base64Size(size int64, probe imapbackend.Probe) (int64, bool) {
	head, tail := probe.Head, probe.Tail
	if size <= 2*imapbackend.ProbeSize || int64(len(head)) != imapbackend.ProbeSize || int64(len(tail)) != imapbackend.ProbeSize {
		return 0, false // too small to probe, or not as long as the server said
	}
	body := bytes.TrimRight(tail, " \t\r\n")
	trailing := int64(len(tail) - len(body))
	var chars int64
	if bytes.IndexByte(head, '\n') < 0 {
		// One unbroken line: all of it but the trailing line end.
		if bytes.IndexByte(body, '\n') >= 0 || !isBase64Text(head) {
			return 0, false
		}
		chars = size - trailing
	} else {
		l, ok := detectLayout(head)
		if !ok || !l.fits(head, true) {
			return 0, false
		}
		i := bytes.LastIndexByte(body, '\n')
		if i < 0 {
			return 0, false
		}
		// The tail's first line is cut; the full lines after it must fit.
		first := bytes.IndexByte(body, '\n')
		if !l.fits(body[first+1:i+1], false) {
			return 0, false
		}
		last := int64(len(body) - i - 1)
		full := size - trailing - last // full lines with their line ends
		if last <= 0 || last > l.line || full%(l.line+l.eol) != 0 || !isBase64Text(body[i+1:]) {
			return 0, false
		}
		chars = full/(l.line+l.eol)*l.line + last
	}
	pad := int64(len(body) - len(bytes.TrimRight(body, "=")))
	if chars%4 != 0 || pad > 2 {
		return 0, false
	}
	return chars/4*3 - pad, true
}

// fits reports whether every complete line of raw is a full line of the
// layout (line base64 characters, then the line end); with partial, raw
// may end inside a line.
func (l b64Layout) fits(raw []byte, partial bool) bool {
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			return partial && int64(len(raw)) <= l.line && isBase64Text(raw)
		}
		line := raw[:i+1]
		if int64(len(line)) != l.line+l.eol || (l.eol == 2 && line[l.line] != '\r') || !isBase64Text(line[:l.line]) {
			return false
		}
		raw = raw[i+1:]
	}
	return true
}

// isBase64Text reports whether s is base64 characters, '=' padding only at
// its end.
func isBase64Text(s []byte) bool {
	s = bytes.TrimRight(s, "=")
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}
