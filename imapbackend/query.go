package imapbackend

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
)

// Limits on what ParseQuery accepts.
const (
	// MaxQueryLen is the longest query ParseQuery accepts, in bytes.
	MaxQueryLen = 4096
	// MaxQueryDepth is how deeply parentheses, NOT and OR may nest.
	MaxQueryDepth = 32
)

// QueryError is the error ParseQuery returns: what is wrong with the query
// and where.
type QueryError struct {
	Offset int    // byte offset into the query
	Column int    // 1-based position in characters (runes); one past the end for "query ends here" errors
	Msg    string // what is wrong, e.g. `SINCE needs a date like 1-Nov-2026, got "yesterday"`
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("%s (column %d)", e.Msg, e.Column)
}

// ParseQuery parses IMAP SEARCH criteria as users write them (RFC 3501
// section 6.4.4 / RFC 9051 search-key syntax) into go-imap criteria. A query
// that is a single bare word, or that does not start with a search key, means
// TEXT <whole query> (e.g. "invoice" -> TEXT "invoice"; "quarterly report" ->
// TEXT "quarterly report"; a query that is just one "quoted string" searches
// for the string without its quotes). Errors are *QueryError and say what was
// wrong and where ("SINCE needs a date like 1-Nov-2026, got \"yesterday\"").
//
// Supported search keys (case-insensitive): ALL, ANSWERED, BCC s, BEFORE d,
// BODY s, CC s, DELETED, DRAFT, FLAGGED, FROM s, HEADER field s, KEYWORD flag,
// LARGER n, NEW, NOT key, OLD, ON d, OR key1 key2, RECENT, SEEN, SENTBEFORE d,
// SENTON d, SENTSINCE d, SINCE d, SMALLER n, SUBJECT s, TEXT s, TO s, UID set,
// UNANSWERED, UNDELETED, UNDRAFT, UNFLAGGED, UNKEYWORD flag, UNSEEN, a
// sequence set (1:5,7,10:*) and parenthesised lists "( key key ... )".
// Several keys in a row are ANDed together. An optional leading
// "CHARSET UTF-8" (or US-ASCII) is accepted and ignored: go-imap picks the
// charset when it sends the command.
//
// Strings are words or double-quoted strings with \" and \\ escapes; UTF-8 is
// allowed, IMAP literals ({n}) are not. Dates are d-Mon-yyyy (RFC 3501), bare
// or quoted. Sizes are unsigned decimal numbers.
//
// The query can never smuggle a second IMAP command: control characters
// (CR, LF, NUL, TAB, ...) and invalid UTF-8 are rejected anywhere, as are
// unbalanced parentheses and unterminated quotes, queries longer than
// MaxQueryLen bytes and nesting deeper than MaxQueryDepth. Every string in the
// result is free of control characters, and go-imap quotes or literal-encodes
// all of them when it writes the SEARCH command.
func ParseQuery(q string) (*imap.SearchCriteria, error) {
	p := &queryParser{q: q}
	if err := p.check(); err != nil {
		return nil, err
	}
	if err := p.tokenize(); err != nil {
		return nil, err
	}
	if len(p.toks) == 0 {
		return nil, p.errAt(0, "empty search query")
	}

	start := 0 // byte offset where the search keys (or the fallback text) begin
	if t := p.peek(); t.kind == tokAtom && asciiUpper(t.val) == "CHARSET" {
		p.next()
		cs := p.next()
		if cs == nil || (cs.kind != tokAtom && cs.kind != tokQuoted) {
			return nil, p.expected(t, "a charset name like UTF-8", cs)
		}
		switch asciiUpper(cs.val) {
		case "UTF-8", "US-ASCII":
		default:
			return nil, p.errAt(cs.pos, fmt.Sprintf("unsupported charset %s (only UTF-8 and US-ASCII)", display(cs)))
		}
		if p.peek() == nil {
			return nil, p.errAt(len(q), "CHARSET must be followed by search keys")
		}
		start = p.peek().pos
	}

	if !p.startsWithKey() {
		return p.fallbackText(start), nil
	}

	var c imap.SearchCriteria
	for p.peek() != nil {
		k, err := p.parseKey(0)
		if err != nil {
			return nil, err
		}
		andCriteria(&c, k)
	}
	return &c, nil
}

type tokKind int

const (
	tokAtom tokKind = iota
	tokQuoted
	tokLParen
	tokRParen
)

type queryToken struct {
	kind tokKind
	val  string // decoded value (quotes and escapes removed)
	raw  string // the text as the user wrote it
	pos  int    // byte offset of raw in the query
}

type queryParser struct {
	q    string
	toks []queryToken
	i    int
}

// check rejects what may never appear anywhere in a query.
func (p *queryParser) check() error {
	if len(p.q) > MaxQueryLen {
		return &QueryError{Offset: MaxQueryLen, Column: utf8.RuneCountInString(p.q[:MaxQueryLen]) + 1,
			Msg: fmt.Sprintf("search query too long (%d bytes, at most %d)", len(p.q), MaxQueryLen)}
	}
	for i, r := range p.q {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(p.q[i:]); size == 1 {
				return p.errAt(i, "search query is not valid UTF-8")
			}
		}
		if unicode.IsControl(r) {
			return p.errAt(i, fmt.Sprintf("control character %U is not allowed in a search query", r))
		}
	}
	return nil
}

func (p *queryParser) tokenize() error {
	q := p.q
	var open []int // offsets of unclosed '('
	for i := 0; i < len(q); {
		switch q[i] {
		case ' ':
			i++
		case '(':
			p.toks = append(p.toks, queryToken{kind: tokLParen, val: "(", raw: "(", pos: i})
			open = append(open, i)
			i++
		case ')':
			if len(open) == 0 {
				return p.errAt(i, `unmatched ")"`)
			}
			open = open[:len(open)-1]
			p.toks = append(p.toks, queryToken{kind: tokRParen, val: ")", raw: ")", pos: i})
			i++
		case '"':
			start := i
			var sb strings.Builder
			i++
			for {
				if i >= len(q) {
					return p.errAt(start, "unterminated quoted string (missing closing \")")
				}
				ch := q[i]
				if ch == '"' {
					i++
					break
				}
				if ch == '\\' {
					if i+1 >= len(q) {
						return p.errAt(start, "unterminated quoted string (missing closing \")")
					}
					if next := q[i+1]; next != '"' && next != '\\' {
						return p.errAt(i, `in a quoted string a backslash may only escape " or \`)
					}
					sb.WriteByte(q[i+1])
					i += 2
					continue
				}
				sb.WriteByte(ch)
				i++
			}
			if i < len(q) && q[i] != ' ' && q[i] != ')' {
				return p.errAt(i, "expected a space after the quoted string")
			}
			p.toks = append(p.toks, queryToken{kind: tokQuoted, val: sb.String(), raw: q[start:i], pos: start})
		default:
			start := i
			for i < len(q) && q[i] != ' ' && q[i] != '(' && q[i] != ')' && q[i] != '"' {
				i++
			}
			if i < len(q) && q[i] == '"' {
				return p.errAt(i, `a quote (") may only start a quoted string; put a space before it`)
			}
			word := q[start:i]
			if off := literalOffset(word); off >= 0 {
				return p.errAt(start+off, `IMAP literals ({n}) are not supported; use a "quoted string"`)
			}
			p.toks = append(p.toks, queryToken{kind: tokAtom, val: word, raw: word, pos: start})
		}
	}
	if len(open) > 0 {
		return p.errAt(open[len(open)-1], `unclosed "(" (missing ")")`)
	}
	return nil
}

// literalOffset returns where IMAP literal syntax ({123} or {123+}) starts in
// word, or -1.
func literalOffset(word string) int {
	for i := 0; i < len(word); i++ {
		if word[i] != '{' {
			continue
		}
		j := i + 1
		for j < len(word) && word[j] >= '0' && word[j] <= '9' {
			j++
		}
		if j == i+1 {
			continue
		}
		if j < len(word) && word[j] == '+' {
			j++
		}
		if j < len(word) && word[j] == '}' {
			return i
		}
	}
	return -1
}

func (p *queryParser) peek() *queryToken {
	if p.i >= len(p.toks) {
		return nil
	}
	return &p.toks[p.i]
}

func (p *queryParser) next() *queryToken {
	t := p.peek()
	if t != nil {
		p.i++
	}
	return t
}

func (p *queryParser) errAt(off int, msg string) error {
	if off > len(p.q) {
		off = len(p.q)
	}
	return &QueryError{Offset: off, Column: utf8.RuneCountInString(p.q[:off]) + 1, Msg: msg}
}

// expected reports that key needs what, but got something else (nil: the
// query ended).
func (p *queryParser) expected(key *queryToken, what string, got *queryToken) error {
	name := asciiUpper(key.val)
	if got == nil {
		return p.errAt(len(p.q), fmt.Sprintf("%s needs %s, but the query ends there", name, what))
	}
	return p.errAt(got.pos, fmt.Sprintf("%s needs %s, got %s", name, what, display(got)))
}

// display shows a token in an error message, shortened if long.
func display(t *queryToken) string {
	s := t.raw
	if utf8.RuneCountInString(s) > 40 {
		n := 0
		for i := range s {
			if n == 40 {
				s = s[:i] + "…"
				break
			}
			n++
		}
	}
	if t.kind == tokQuoted {
		return s // already in quotes
	}
	return strconv.Quote(s)
}

// asciiUpper upper-cases an ASCII word; non-ASCII words give "" so that they
// can never match a key name through Unicode case folding.
func asciiUpper(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return ""
		}
	}
	return strings.ToUpper(s)
}

var searchKeys = map[string]bool{
	"ALL": true, "ANSWERED": true, "BCC": true, "BEFORE": true, "BODY": true, "CC": true,
	"DELETED": true, "DRAFT": true, "FLAGGED": true, "FROM": true, "HEADER": true,
	"KEYWORD": true, "LARGER": true, "NEW": true, "NOT": true, "OLD": true, "ON": true,
	"OR": true, "RECENT": true, "SEEN": true, "SENTBEFORE": true, "SENTON": true,
	"SENTSINCE": true, "SINCE": true, "SMALLER": true, "SUBJECT": true, "TEXT": true,
	"TO": true, "UID": true, "UNANSWERED": true, "UNDELETED": true, "UNDRAFT": true,
	"UNFLAGGED": true, "UNKEYWORD": true, "UNSEEN": true,
}

// looksLikeSeqSet reports whether an atom is meant as a sequence set: only
// digits, ':', ',' and '*', starting with a digit or '*'.
func looksLikeSeqSet(s string) bool {
	if s == "" || !(s[0] == '*' || (s[0] >= '0' && s[0] <= '9')) {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == ':', c == ',', c == '*':
		default:
			return false
		}
	}
	return true
}

// startsWithKey reports whether the next token begins a search key.
func (p *queryParser) startsWithKey() bool {
	t := p.peek()
	switch t.kind {
	case tokLParen:
		return true
	case tokAtom:
		return searchKeys[asciiUpper(t.val)] || looksLikeSeqSet(t.val)
	}
	return false
}

// fallbackText is TEXT <the query from start>, or TEXT <string> when that is
// a single quoted string.
func (p *queryParser) fallbackText(start int) *imap.SearchCriteria {
	text := strings.Trim(p.q[start:], " ")
	if rest := p.toks[p.i:]; len(rest) == 1 && rest[0].kind == tokQuoted {
		text = rest[0].val
	}
	return &imap.SearchCriteria{Text: []string{text}}
}

var headerKeyNames = map[string]string{
	"BCC": "Bcc", "CC": "Cc", "FROM": "From", "SUBJECT": "Subject", "TO": "To",
}

var flagKeys = map[string]imap.Flag{
	"ANSWERED": imap.FlagAnswered,
	"DELETED":  imap.FlagDeleted,
	"DRAFT":    imap.FlagDraft,
	"FLAGGED":  imap.FlagFlagged,
	"SEEN":     imap.FlagSeen,
}

// parseKey parses one search key (a parenthesised list counts as one).
func (p *queryParser) parseKey(depth int) (*imap.SearchCriteria, error) {
	t := p.next()
	if t == nil {
		return nil, p.errAt(len(p.q), "expected a search key, but the query ends there")
	}
	if depth >= MaxQueryDepth && (t.kind == tokLParen || t.kind == tokAtom && (asciiUpper(t.val) == "NOT" || asciiUpper(t.val) == "OR")) {
		return nil, p.errAt(t.pos, fmt.Sprintf("search query nested too deeply (more than %d levels)", MaxQueryDepth))
	}
	c := &imap.SearchCriteria{}
	switch t.kind {
	case tokRParen:
		return nil, p.errAt(t.pos, `expected a search key, got ")"`)
	case tokQuoted:
		return nil, p.errAt(t.pos, fmt.Sprintf("expected a search key, got the string %s (to search for text, write TEXT %s)", display(t), display(t)))
	case tokLParen:
		if n := p.peek(); n != nil && n.kind == tokRParen {
			return nil, p.errAt(t.pos, "empty parentheses: a list needs at least one search key")
		}
		for {
			n := p.peek()
			if n == nil { // cannot happen: the tokenizer checked the balance
				return nil, p.errAt(t.pos, `unclosed "(" (missing ")")`)
			}
			if n.kind == tokRParen {
				p.next()
				return c, nil
			}
			k, err := p.parseKey(depth + 1)
			if err != nil {
				return nil, err
			}
			andCriteria(c, k)
		}
	}

	key := asciiUpper(t.val)
	switch key {
	case "ALL":
	case "RECENT", "NEW", "OLD":
		// go-imap writes \Recent as KEYWORD \Recent, which servers take
		// for a keyword nobody has: RECENT would never match and OLD
		// always. Refuse rather than answer wrongly.
		return nil, p.errAt(t.pos, key+" is not supported (\\Recent cannot be searched through go-imap); use UNSEEN or SINCE")
	case "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "SEEN":
		c.Flag = []imap.Flag{flagKeys[key]}
	case "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN":
		c.NotFlag = []imap.Flag{flagKeys[key[2:]]}
	case "BCC", "CC", "FROM", "SUBJECT", "TO":
		s, err := p.expectString(t)
		if err != nil {
			return nil, err
		}
		c.Header = []imap.SearchCriteriaHeaderField{{Key: headerKeyNames[key], Value: s}}
	case "HEADER":
		f := p.next()
		if f == nil || (f.kind != tokAtom && f.kind != tokQuoted) || !validHeaderName(f.val) {
			return nil, p.expected(t, "a header field name like X-Spam and then a string", f)
		}
		v := p.next()
		if v == nil || (v.kind != tokAtom && v.kind != tokQuoted) {
			return nil, p.expected(t, fmt.Sprintf("a string to look for in %s after the field name", f.val), v)
		}
		c.Header = []imap.SearchCriteriaHeaderField{{Key: f.val, Value: v.val}}
	case "BODY", "TEXT":
		s, err := p.expectString(t)
		if err != nil {
			return nil, err
		}
		if key == "BODY" {
			c.Body = []string{s}
		} else {
			c.Text = []string{s}
		}
	case "KEYWORD", "UNKEYWORD":
		f := p.next()
		if f == nil || f.kind != tokAtom || !validKeyword(f.val) {
			return nil, p.expected(t, "a keyword (flag name) like $Important or Work", f)
		}
		if key == "KEYWORD" {
			c.Flag = []imap.Flag{imap.Flag(f.val)}
		} else {
			c.NotFlag = []imap.Flag{imap.Flag(f.val)}
		}
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE":
		d := p.next()
		var date time.Time
		ok := false
		if d != nil && (d.kind == tokAtom || d.kind == tokQuoted) {
			date, ok = parseDate(d.val)
		}
		if !ok {
			return nil, p.expected(t, "a date like 1-Nov-2026", d)
		}
		if (key == "ON" || key == "SENTON") && date.AddDate(0, 0, 1).Year() > 9999 {
			return nil, p.errAt(d.pos, fmt.Sprintf("%s needs a date before 31-Dec-9999", key))
		}
		switch key {
		case "BEFORE":
			c.Before = date
		case "SINCE":
			c.Since = date
		case "ON":
			c.Since, c.Before = date, date.AddDate(0, 0, 1)
		case "SENTBEFORE":
			c.SentBefore = date
		case "SENTSINCE":
			c.SentSince = date
		case "SENTON":
			c.SentSince, c.SentBefore = date, date.AddDate(0, 0, 1)
		}
	case "LARGER", "SMALLER":
		nt := p.next()
		var n int64 = -1
		if nt != nil && nt.kind == tokAtom {
			n = parseSize(nt.val)
		}
		if n < 0 {
			return nil, p.expected(t, "a size in bytes like 1000000", nt)
		}
		if key == "LARGER" {
			c.Larger = n
		} else {
			if n == 0 {
				return nil, p.errAt(nt.pos, "SMALLER 0 matches no message; use a size of at least 1")
			}
			c.Smaller = n
		}
	case "UID":
		st := p.next()
		var set imap.UIDSet
		ok := false
		if st != nil && st.kind == tokAtom {
			set, ok = parseUIDSet(st.val)
		}
		if !ok {
			return nil, p.expected(t, "a set of UIDs like 1:10,20", st)
		}
		c.UID = []imap.UIDSet{set}
	case "NOT":
		if n := p.peek(); n == nil || n.kind == tokRParen {
			return nil, p.expected(t, "a search key after it", n)
		}
		k, err := p.parseKey(depth + 1)
		if err != nil {
			return nil, err
		}
		c.Not = []imap.SearchCriteria{*k}
	case "OR":
		var or [2]imap.SearchCriteria
		for i, which := range []string{"two search keys", "a second search key"} {
			if n := p.peek(); n == nil || n.kind == tokRParen {
				return nil, p.expected(t, which, n)
			}
			k, err := p.parseKey(depth + 1)
			if err != nil {
				return nil, err
			}
			or[i] = *k
		}
		c.Or = [][2]imap.SearchCriteria{or}
	case "CHARSET":
		return nil, p.errAt(t.pos, "CHARSET may only come first in the query")
	default:
		if looksLikeSeqSet(t.val) {
			set, ok := parseSeqSet(t.val)
			if !ok {
				return nil, p.errAt(t.pos, fmt.Sprintf("bad message sequence set %s (want e.g. 1:5,7 or 10:*)", display(t)))
			}
			c.SeqNum = []imap.SeqSet{set}
			break
		}
		return nil, p.errAt(t.pos, fmt.Sprintf("unknown search key %s (to search for text, write TEXT \"your words\")", display(t)))
	}
	return c, nil
}

// expectString reads the string argument of key.
func (p *queryParser) expectString(key *queryToken) (string, error) {
	t := p.next()
	if t == nil || (t.kind != tokAtom && t.kind != tokQuoted) {
		return "", p.expected(key, `a string (a word or a "quoted string")`, t)
	}
	return t.val, nil
}

// validHeaderName: RFC 5322 field name, printable ASCII except ':'.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == ':' {
			return false
		}
	}
	return true
}

// validKeyword: an IMAP flag-keyword, i.e. an atom.
func validKeyword(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
			return false
		default:
			if c <= ' ' || c >= 0x7f {
				return false
			}
		}
	}
	return true
}

var monthNames = [...]string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}

// parseDate parses an RFC 3501 date (d-Mon-yyyy, day 1 or 2 digits, month
// name case-insensitive) as midnight UTC. Years are 1000 to 9999.
func parseDate(s string) (time.Time, bool) {
	parts := strings.Split(s, "-")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	day, ok1 := parseDigits(parts[0], 1, 2)
	year, ok2 := parseDigits(parts[2], 4, 4)
	if !ok1 || !ok2 || year < 1000 || day < 1 {
		return time.Time{}, false
	}
	month := 0
	for i, m := range monthNames {
		if asciiUpper(parts[1]) == m {
			month = i + 1
		}
	}
	if month == 0 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	if t.Day() != day { // 31-Feb-2026 and the like
		return time.Time{}, false
	}
	return t, true
}

// parseDigits parses minLen to maxLen ASCII digits.
func parseDigits(s string, minLen, maxLen int) (int, bool) {
	if len(s) < minLen || len(s) > maxLen {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// parseSize parses an unsigned decimal number up to 2^63-1, or returns -1.
func parseSize(s string) int64 {
	if s == "" {
		return -1
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return -1
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// parseSetRanges parses an IMAP sequence-set: comma-separated numbers or
// n:m ranges, where a number is a non-zero uint32 without leading zeros or
// "*" (returned as 0, go-imap's representation of "*").
func parseSetRanges(s string, add func(start, stop uint32)) bool {
	if s == "" {
		return false
	}
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, ":")
		start, ok := parseSetNum(a)
		if !ok {
			return false
		}
		stop := start
		if isRange {
			if stop, ok = parseSetNum(b); !ok {
				return false
			}
		}
		add(start, stop)
	}
	return true
}

func parseSetNum(s string) (uint32, bool) {
	if s == "*" {
		return 0, true
	}
	if s == "" || s[0] < '1' || s[0] > '9' {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(n), true
}

func parseSeqSet(s string) (imap.SeqSet, bool) {
	var set imap.SeqSet
	ok := parseSetRanges(s, func(start, stop uint32) { set.AddRange(start, stop) })
	return set, ok && len(set) > 0
}

func parseUIDSet(s string) (imap.UIDSet, bool) {
	var set imap.UIDSet
	ok := parseSetRanges(s, func(start, stop uint32) { set.AddRange(imap.UID(start), imap.UID(stop)) })
	return set, ok && len(set) > 0
}

// andCriteria adds src to dst so that dst matches what both matched. It is
// imap.SearchCriteria.And except for SMALLER: And drops dst's SMALLER when
// src has none (beta.8), which would widen the search.
func andCriteria(dst, src *imap.SearchCriteria) {
	smaller := dst.Smaller
	if src.Smaller != 0 && (smaller == 0 || src.Smaller < smaller) {
		smaller = src.Smaller
	}
	dst.And(src)
	dst.Smaller = smaller
}
