package imapbackend

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// The guard bounds what a server may make go-imap do, below go-imap,
// response line by response line (originConn calls it): go-imap parses
// nested lists recursively, reads any literal whole, and fails the whole
// connection on a mailbox name it cannot decode.
const (
	// MaxParseDepth bounds the nesting of parenthesised lists in one
	// response: a BODYSTRUCTURE 3,000,000 deep overflows go-imap's stack
	// (a crash no recover catches). Real mail nests a few levels.
	MaxParseDepth = 512
	// MaxResponseLists bounds the lists in one response, however flat:
	// within the 64 MiB line bound, a BODYSTRUCTURE of a million parts
	// would take go-imap and imapfs a gigabyte. A message of 5,000
	// attachments has some 20,000.
	MaxResponseLists = 200_000
	// DefaultMaxLiteral is the largest literal accepted when
	// Config.MaxLiteral is not set: LiteralBound of the default cache.
	DefaultMaxLiteral = 256 << 20
	// minLiteralBound is the least LiteralBound gives: a small cache
	// must not make a mid-sized part that is fetched whole unreadable.
	minLiteralBound = 64 << 20
	// maxNameLiteral bounds a mailbox name sent as a literal, which the
	// guard reads to check it.
	maxNameLiteral = 64 << 10
)

// LiteralBound is the largest literal a mount with that cache budget
// accepts (Config.MaxLiteral): the budget, and at least 64 MiB. Large
// files stream in windows far smaller; what is fetched whole (small
// files, text converted from its charset) is held in memory as a whole.
func LiteralBound(cacheBudget int64) int64 { return max(cacheBudget, minLiteralBound) }

// ErrHostileResponse is returned (wrapped) when a response breaks one of
// the guard's bounds: the connection is dropped, that request fails.
var ErrHostileResponse = errors.New("server response exceeds imapfs's bounds")

// guard is the per-connection state of the checks: the response being
// read may span several lines (each literal ends one).
type guard struct {
	maxLiteral int64
	// activity, when set, is stamped when the server sends bytes of an
	// answer (see progress): what --timeout waits for.
	activity *atomic.Int64

	inResponse bool // the last line ended with a literal: same response
	counting   bool // the response is not a status response: count depth
	depth      int
	lists      int // lists opened in this response
}

func (g *guard) stamp() {
	if g.activity != nil {
		g.activity.Store(time.Now().UnixNano())
	}
}

// partial notes the first part of a long line: an answer's (a SEARCH of a
// million UIDs) is progress before its end, on a slow link too.
func (g *guard) partial(line []byte) {
	if g.inResponse || progress(line) {
		g.stamp()
	}
}

// line checks one response line (up to its LF; literal bytes excluded)
// and returns it, rewritten when it names a mailbox go-imap cannot decode.
// br is where a mailbox name sent as a literal is read from.
func (g *guard) line(line []byte, br *bufio.Reader) ([]byte, error) {
	if !g.inResponse {
		g.depth, g.lists = 0, 0
		g.counting = !isStatusResponse(line)
		if progress(line) {
			g.stamp()
		}
	} else {
		g.stamp() // the rest of a response whose literal was progress
	}
	if g.counting {
		if err := g.count(line); err != nil {
			return nil, err
		}
	}
	if !g.inResponse {
		var err error
		if line, err = rewriteMailbox(line, br); err != nil {
			return nil, err
		}
	}
	n := literalAtEnd(line)
	if n > g.maxLiteral {
		return nil, fmt.Errorf("%w: a literal of %d bytes (at most %d)", ErrHostileResponse, n, g.maxLiteral)
	}
	g.inResponse = n > 0 || bytes.HasSuffix(line, []byte("{0}\r\n"))
	return line, nil
}

// count follows the nesting of lists outside quoted strings (literals
// never reach it).
func (g *guard) count(line []byte) error {
	quoted, escaped := false, false
	for _, ch := range line {
		if quoted {
			switch {
			case escaped:
				escaped = false
			case ch == '\\':
				escaped = true
			case ch == '"':
				quoted = false
			}
			continue
		}
		switch ch {
		case '"':
			quoted = true
		case '(':
			g.depth++
			g.lists++
			if g.depth > MaxParseDepth {
				return fmt.Errorf("%w: lists nested more than %d deep", ErrHostileResponse, MaxParseDepth)
			}
			if g.lists > MaxResponseLists {
				return fmt.Errorf("%w: more than %d lists in one response", ErrHostileResponse, MaxResponseLists)
			}
		case ')':
			g.depth = max(g.depth-1, 0)
		}
	}
	return nil
}

// isStatusResponse reports whether line is a continuation request or a
// status response (OK, NO, BAD, BYE, PREAUTH), whose text is free and
// never parsed as lists.
func isStatusResponse(line []byte) bool {
	if bytes.HasPrefix(line, []byte("+")) {
		return true
	}
	_, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok {
		return false
	}
	word, _, _ := bytes.Cut(rest, []byte(" "))
	word = bytes.TrimRight(word, "\r\n")
	for _, s := range []string{"OK", "NO", "BAD", "BYE", "PREAUTH"} {
		if bytes.EqualFold(word, []byte(s)) {
			return true
		}
	}
	return false
}

// progress reports whether a response (its first line) answers a command,
// as opposed to news the server may send at any time and as often as it
// likes (EXISTS, RECENT, EXPUNGE, an untagged OK, FLAGS, a FETCH of flags
// alone): --timeout counts time without an answer, so that a server
// repeating "* 1 EXISTS" cannot hold a request forever.
func progress(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("* ")) {
		return true // tagged completion or continuation request
	}
	fields := bytes.Fields(line[2:])
	if len(fields) == 0 {
		return false
	}
	word := fields[0]
	if len(fields) > 1 && word[0] >= '0' && word[0] <= '9' {
		word = fields[1]
	}
	switch string(bytes.ToUpper(word)) {
	case "EXISTS", "RECENT", "EXPUNGE", "OK", "NO", "BAD", "FLAGS":
		return false
	case "FETCH":
		return !flagsOnly(line)
	}
	return true
}

// flagsOnly reports whether a FETCH response carries no items but UID,
// FLAGS and MODSEQ: a flag change, solicited or not.
func flagsOnly(line []byte) bool {
	open := bytes.IndexByte(line, '(')
	if open < 0 || literalAtEnd(line) > 0 {
		return false
	}
	items := line[open:]
	depth := 0
	for i := 0; i < len(items); i++ {
		switch items[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ' ':
			continue
		}
		if depth != 1 || items[i] == '(' || items[i] == ')' {
			continue
		}
		// An item name at depth 1 starts here.
		j := i
		for j < len(items) && items[j] != ' ' && items[j] != '(' && items[j] != ')' {
			j++
		}
		name := string(bytes.ToUpper(items[i:j]))
		if name != "UID" && name != "FLAGS" && name != "MODSEQ" {
			return false
		}
		// Skip the item's value: a number, or a list (handled by depth).
		for j < len(items) && items[j] == ' ' {
			j++
		}
		for j < len(items) && items[j] >= '0' && items[j] <= '9' {
			j++
		}
		i = j - 1
	}
	return true
}

// undecodablePrefix starts the name go-imap sees for a mailbox whose name
// is not valid modified UTF-7: U+10FFFF, a noncharacter no real name
// starts with, then the hex of the server's bytes. It reaches go-imap as
// modified UTF-7 ("&2,,f,w-"), which it decodes.
const (
	undecodablePrefix     = "\U0010FFFF"
	undecodablePrefixUTF7 = "&2,,f,w-"
)

// rewriteMailbox replaces, in a LIST, LSUB or STATUS response, a mailbox
// name that go-imap would fail the connection on by a quoted name that
// carries its bytes (see undecodablePrefix). A name sent as a literal is
// read from br, up to maxNameLiteral.
func rewriteMailbox(line []byte, br *bufio.Reader) ([]byte, error) {
	at := mailboxAt(line)
	if at < 0 {
		return line, nil
	}
	var (
		name []byte
		end  int // line[end:] follows the name
	)
	switch {
	case line[at] == '"':
		var ok bool
		name, end, ok = quotedAt(line, at)
		if !ok {
			return line, nil
		}
	case line[at] == '{' || line[at] == '~':
		n := literalAtEnd(line)
		if n <= 0 || bytes.IndexByte(line[at:], '{') != bytes.LastIndexByte(line[at:], '{') {
			return line, nil // not a literal that ends the line: go-imap's to judge
		}
		if n > maxNameLiteral {
			return nil, fmt.Errorf("%w: a mailbox name of %d bytes", ErrHostileResponse, n)
		}
		lit := make([]byte, n)
		if _, err := io.ReadFull(br, lit); err != nil {
			return nil, err
		}
		rest, err := br.ReadSlice('\n')
		if err != nil {
			return nil, fmt.Errorf("after a mailbox name: %w", err)
		}
		if validMailboxName(lit) {
			// Handed on as it came: the line, the literal and the rest
			// of the response (which ends it: a name is the last literal).
			out := append(append(append([]byte{}, line...), lit...), rest...)
			return out, nil
		}
		return append(append(append([]byte{}, line[:at]...), quotedPlaceholder(lit)...), rest...), nil
	default:
		end = at
		for end < len(line) && line[end] > ' ' && line[end] != '(' && line[end] != ')' {
			end++
		}
		name = line[at:end]
	}
	if validMailboxName(name) {
		return line, nil
	}
	out := append([]byte{}, line[:at]...)
	out = append(out, quotedPlaceholder(name)...)
	return append(out, line[end:]...), nil
}

func quotedPlaceholder(name []byte) []byte {
	return []byte(`"` + undecodablePrefixUTF7 + hex.EncodeToString(name) + `"`)
}

// mailboxAt returns where the mailbox name starts in a LIST, LSUB or
// STATUS response, or -1.
func mailboxAt(line []byte) int {
	if !bytes.HasPrefix(line, []byte("* ")) {
		return -1
	}
	word, rest, ok := bytes.Cut(line[2:], []byte(" "))
	if !ok {
		return -1
	}
	at := len(line) - len(rest)
	switch string(bytes.ToUpper(word)) {
	case "STATUS":
		if at >= len(line) {
			return -1
		}
		return at
	case "LIST", "LSUB":
	default:
		return -1
	}
	// (attributes) SP delimiter SP name
	if at >= len(line) || line[at] != '(' {
		return -1
	}
	close := bytes.IndexByte(line[at:], ')')
	if close < 0 {
		return -1
	}
	i := at + close + 1
	if i >= len(line) || line[i] != ' ' {
		return -1
	}
	i++
	switch {
	case bytes.HasPrefix(bytes.ToUpper(line[i:]), []byte("NIL")):
		i += 3
	case line[i] == '"':
		_, end, ok := quotedAt(line, i)
		if !ok {
			return -1
		}
		i = end
	default:
		return -1
	}
	if i >= len(line)-1 || line[i] != ' ' {
		return -1
	}
	return i + 1
}

// quotedAt reads the quoted string starting at line[at] and returns its
// bytes, unescaped, and where it ends.
func quotedAt(line []byte, at int) (s []byte, end int, ok bool) {
	for i := at + 1; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++
			if i < len(line) {
				s = append(s, line[i])
			}
		case '"':
			return s, i + 1, true
		default:
			s = append(s, line[i])
		}
	}
	return nil, 0, false
}

// validMailboxName reports whether go-imap decodes name: INBOX, or valid
// modified UTF-7 (raw UTF-8 accepted), with the rules of go-imap
// v2.0.0-beta.8's internal/utf7.Decode. A quoted string with CR, LF or
// NUL is not valid either.
func validMailboxName(name []byte) bool {
	if bytes.EqualFold(name, []byte("INBOX")) {
		return true
	}
	if !utf8.Valid(name) {
		return false
	}
	ascii := true
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if ch < 0x20 || ch == 0x7f {
			return false
		}
		if ch != '&' {
			ascii = true
			continue
		}
		start := i + 1
		for i++; i < len(name) && name[i] != '-'; i++ {
			if name[i] < 0x20 {
				return false // base64 would skip CR and LF
			}
		}
		if i == len(name) {
			return false // implicit shift
		}
		if i == start {
			ascii = true // "&-"
			continue
		}
		if !ascii || !validUTF7Base64(name[start:i]) {
			return false
		}
		ascii = false
	}
	return true
}

// utf7Base64 is modified UTF-7's base64 alphabet, decoded leniently as
// go-imap does (leftover bits ignored).
var utf7Base64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,")

// validUTF7Base64 reports whether b is modified base64 of UTF-16BE that
// go-imap accepts: whole characters, none of them printable ASCII.
func validUTF7Base64(b64 []byte) bool {
	n := len(b64)
	if n%4 == 1 {
		return false // go-imap pads with at most "==": undecodable
	}
	padded := append([]byte{}, b64...)
	for len(padded)%4 != 0 {
		padded = append(padded, '=')
	}
	b := make([]byte, utf7Base64.DecodedLen(len(padded)))
	m, err := utf7Base64.Decode(b, padded)
	if err != nil || m&1 == 1 || m == 0 {
		return false
	}
	for i := 0; i < m; i += 2 {
		r := rune(b[i])<<8 | rune(b[i+1])
		if utf16.IsSurrogate(r) {
			if i += 2; i == m {
				return false
			}
			if utf16.DecodeRune(r, rune(b[i])<<8|rune(b[i+1])) == utf8.RuneError {
				return false
			}
		} else if r >= 0x20 && r <= 0x7e {
			return false
		}
	}
	return true
}

// undecodableName returns the server's bytes of a name that go-imap saw
// as a placeholder (see undecodablePrefix).
func undecodableName(name string) ([]byte, bool) {
	if len(name) <= len(undecodablePrefix) || name[:len(undecodablePrefix)] != undecodablePrefix {
		return nil, false
	}
	raw, err := hex.DecodeString(name[len(undecodablePrefix):])
	return raw, err == nil
}
