package imapbackend

import (
	"bytes"
	"encoding/base64"
	"io"
	"strings"

	mcharset "github.com/emersion/go-message/charset"
)

// DecodesAsIs reports whether DecodePart gives a part's raw bytes back
// unchanged: it has no transfer encoding to undo and no charset to
// convert.
func (p Part) DecodesAsIs() bool {
	switch strings.ToLower(strings.TrimSpace(p.Encoding)) {
	case "base64", "quoted-printable":
		return false
	}
	if p.IsMessage() || !p.IsInlineText() {
		return true
	}
	return isUTF8Name(p.Charset)
}

// DecodePart turns the raw bytes of BODY[section] into the file content:
// transfer decoding (base64, quoted-printable) always; for inline text parts, also charset -> UTF-8.
// Attachments (and non-text parts) keep their exact decoded bytes. Unknown encodings (7bit, 8bit, binary, x-uuencode, garbage) are returned unchanged.
// Unknown or broken charsets leave the bytes unchanged (no error).
//
// The result may share memory with raw.
func DecodePart(p Part, raw []byte) []byte {
	var b []byte
	switch strings.ToLower(strings.TrimSpace(p.Encoding)) {
	case "base64":
		b = DecodeBase64(raw)
	case "quoted-printable":
		b = DecodeQuotedPrintable(raw)
	default:
		b = raw
	}
	// An encapsulated message carries its own charsets in its own headers;
	// converting it as a whole would corrupt it.
	if p.IsMessage() || !p.IsInlineText() {
		return b
	}
	return ToUTF8(p.Charset, b)
}

// isUTF8Name reports whether a charset label needs no conversion to UTF-8.
func isUTF8Name(charset string) bool {
	switch strings.ToLower(strings.Trim(strings.TrimSpace(charset), `"'`)) {
	case "", "us-ascii", "utf-8", "utf8":
		return true
	}
	return false
}

// base64Value maps a byte to its 6-bit value, or -1 outside the alphabet.
var base64Value = func() (t [256]int8) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = int8(i)
	}
	return t
}()

// DecodeBase64 is lenient: skips every byte outside the base64 alphabet (whitespace, junk like '!' '*'), stops at the first '=' padding group per RFC but tolerates missing padding and a trailing partial group (decode what can be decoded: 2 chars -> 1 byte, 3 -> 2, 1 leftover char dropped); never errors.
func DecodeBase64(raw []byte) []byte {
	clean := make([]byte, 0, len(raw))
	for _, c := range raw {
		if c == '=' {
			break
		}
		if base64Value[c] >= 0 {
			clean = append(clean, c)
		}
	}
	// A single leftover character carries only 6 bits: not even one byte.
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1]
	}
	whole := len(clean) / 4 * 4
	out := make([]byte, base64.StdEncoding.DecodedLen(whole)+2)
	// The input is filtered to the alphabet and cut to whole groups, so
	// neither call can fail; non-strict decoding ignores the unused low bits
	// of a partial group, as sloppy encoders leave them set.
	n, _ := base64.StdEncoding.Decode(out, clean[:whole])
	m, _ := base64.RawStdEncoding.Decode(out[n:], clean[whole:])
	return out[:n+m]
}

// DecodeQuotedPrintable is lenient: "=XX" hex (either case) -> byte; "=" + CRLF or "=" + LF is a soft break; "=" followed by anything else is kept literally; trailing spaces/tabs before a line end are removed (RFC 2045); line ends otherwise kept as they are; never errors.
//
// The end of the input counts as a line end: encoders end a body with a
// soft break ("=" at EOF) when the text has no final newline, so that "="
// is dropped, and trailing blanks there are transport padding as well.
func DecodeQuotedPrintable(raw []byte) []byte {
	out := make([]byte, 0, len(raw))
	for len(raw) > 0 {
		var line, eol []byte
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, eol, raw = raw[:i], raw[i:i+1], raw[i+1:]
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line, eol = line[:len(line)-1], []byte("\r\n")
			}
		} else {
			line, raw = raw, nil
		}
		line = bytes.TrimRight(line, " \t")
		if len(line) > 0 && line[len(line)-1] == '=' {
			out = appendQPLine(out, line[:len(line)-1])
			continue
		}
		out = appendQPLine(out, line)
		out = append(out, eol...)
	}
	return out
}

func appendQPLine(out, line []byte) []byte {
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == '=' && i+2 < len(line) {
			hi, okHi := unhex(line[i+1])
			lo, okLo := unhex(line[i+2])
			if okHi && okLo {
				out = append(out, hi<<4|lo)
				i += 2
				continue
			}
		}
		out = append(out, c)
	}
	return out
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// ToUTF8 converts b from charset to UTF-8 via github.com/emersion/go-message/charset.
// "", "us-ascii", "utf-8" and "utf8" need no conversion; unknown charsets
// and decoding errors leave b unchanged, since showing the original bytes
// beats showing nothing.
func ToUTF8(charset string, b []byte) []byte {
	if isUTF8Name(charset) {
		return b
	}
	name := strings.ToLower(strings.Trim(strings.TrimSpace(charset), `"'`))
	r, err := mcharset.Reader(name, bytes.NewReader(b))
	if err != nil {
		return b
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return b
	}
	return out
}
