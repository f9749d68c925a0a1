package imaptest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
)

// Hostile is a scripted IMAP server on loopback, in the spirit of
// httptest.Server: it speaks just enough IMAP4rev1 for imapfs to log in,
// LIST, SELECT or EXAMINE, STATUS, UID FETCH, UID SEARCH and IDLE, and each
// test replaces the answer to one command (Handle) or one item of one
// message (HostileMessage.Items) with the bad answer it is about.
//
// Mailbox names are written exactly as given, so a test can list a name
// that is not valid modified UTF-7; message bodies are plain text/plain.
type Hostile struct {
	Addr     string // 127.0.0.1:PORT, plain IMAP
	Username string
	Password string

	ln net.Listener
	wg sync.WaitGroup

	mu        sync.Mutex
	caps      string
	mailboxes []*HostileMailbox
	handlers  map[string]func(*HostileRequest)
	counts    map[string]int
	conns     map[net.Conn]struct{}
	closed    bool
	tls       *tls.Config // STARTTLS offered when set
	// beforeLiteral answers, by command name, a synchronising literal
	// instead of a continuation request (RefuseLiteral).
	beforeLiteral map[string]string
}

// HostileMailbox is one mailbox: Name is its name on the wire, bytes as
// they are (quoted, or a literal when it holds bytes a quoted string
// cannot).
type HostileMailbox struct {
	Name     string
	Messages []*HostileMessage
}

// HostileMessage is one message. Items, keyed by a FETCH item's name as
// the response names it ("BODYSTRUCTURE", "BODY[HEADER]"), replace the
// default answer for that item: the function writes the item's whole text,
// name included.
type HostileMessage struct {
	UID   uint32
	Raw   []byte // CRLF line endings
	Items map[string]func(w io.Writer) error
}

// NewHostile starts a hostile server with the given mailboxes (none: an
// empty INBOX). Close stops it.
func NewHostile(mailboxes ...*HostileMailbox) (*Hostile, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("imaptest: hostile server: listen: %w", err)
	}
	if len(mailboxes) == 0 {
		mailboxes = []*HostileMailbox{{Name: "INBOX"}}
	}
	h := &Hostile{
		Addr: ln.Addr().String(), Username: "hostile", Password: "hostile",
		ln: ln, caps: "IMAP4rev1 IDLE ESEARCH UIDPLUS",
		mailboxes: mailboxes,
		handlers:  make(map[string]func(*HostileRequest)),
		counts:    make(map[string]int),
		conns:     make(map[net.Conn]struct{}),

		beforeLiteral: make(map[string]string),
	}
	h.wg.Add(1)
	go h.serve()
	return h, nil
}

// Server describes the hostile server as a Server, for helpers that mount
// an account from one; Close of the result does nothing.
func (h *Hostile) Server() *Server {
	return &Server{Addr: h.Addr, Username: h.Username, Password: h.Password, Delimiter: '/', Kind: "hostile"}
}

// SimpleMessage is a small text message with that UID and subject.
func SimpleMessage(uid uint32, subject string) *HostileMessage {
	raw := fmt.Sprintf("From: a@example.org\r\nSubject: %s\r\n\r\nbody of %d\r\n", subject, uid)
	return &HostileMessage{UID: uid, Raw: []byte(raw)}
}

// SetCaps replaces the capabilities advertised (default
// "IMAP4rev1 IDLE ESEARCH UIDPLUS").
func (h *Hostile) SetCaps(caps string) {
	h.mu.Lock()
	h.caps = caps
	h.mu.Unlock()
}

// StartTLS makes the server offer STARTTLS with a certificate for
// 127.0.0.1 from a CA of its own, and returns that CA's PEM, for a client's
// --ca-file.
func (h *Hostile) StartTLS() ([]byte, error) {
	cfg, caPEM, err := newCA([]string{"127.0.0.1"})
	if err != nil {
		return nil, fmt.Errorf("imaptest: hostile server: %w", err)
	}
	h.mu.Lock()
	h.tls = cfg
	h.caps += " STARTTLS"
	h.mu.Unlock()
	return caPEM, nil
}

// Handle makes f answer every command called name ("FETCH" for UID FETCH,
// "SEARCH", "IDLE", "LIST", "SELECT"...). f writes the whole answer, the
// tagged completion included, or calls r.Default for the usual one.
func (h *Hostile) Handle(name string, f func(r *HostileRequest)) {
	h.mu.Lock()
	h.handlers[strings.ToUpper(name)] = f
	h.mu.Unlock()
}

// RefuseLiteral makes the server answer a command called name that sends
// a synchronising literal (APPEND) with "TAG answer" instead of "+": the
// command ends there, as a server may refuse an APPEND from its size
// alone (over quota). The client never sends the literal.
func (h *Hostile) RefuseLiteral(name, answer string) {
	h.mu.Lock()
	h.beforeLiteral[strings.ToUpper(name)] = answer
	h.mu.Unlock()
}

// Count is how many commands called name (as Handle names them) the
// server has received.
func (h *Hostile) Count(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[strings.ToUpper(name)]
}

// Total is how many commands the server has received, of every kind.
func (h *Hostile) Total() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.counts {
		n += c
	}
	return n
}

// Close stops listening, cuts every connection and waits for their
// goroutines.
func (h *Hostile) Close() error {
	h.mu.Lock()
	h.closed = true
	for c := range h.conns {
		c.Close()
	}
	h.mu.Unlock()
	err := h.ln.Close()
	h.wg.Wait()
	return err
}

func (h *Hostile) serve() {
	defer h.wg.Done()
	for {
		c, err := h.ln.Accept()
		if err != nil {
			return
		}
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			c.Close()
			return
		}
		h.conns[c] = struct{}{}
		h.mu.Unlock()
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.session(c)
			h.mu.Lock()
			delete(h.conns, c)
			h.mu.Unlock()
			c.Close()
		}()
	}
}

// hostileConn is one client's session.
type hostileConn struct {
	h        *Hostile
	c        net.Conn
	r        *bufio.Reader
	wmu      sync.Mutex // writes come from the session and from storms
	w        *bufio.Writer
	selected *HostileMailbox
}

// HostileRequest is one command, for a handler.
type HostileRequest struct {
	Tag  string
	Name string // upper case, without UID: "FETCH", "SEARCH", "SELECT"
	UID  bool   // the command was UID FETCH, UID SEARCH...
	Args string // the rest of the line, literals inlined
	// Mailbox is the selected mailbox, nil when none.
	Mailbox *HostileMailbox
	conn    *hostileConn
}

// Printf writes a formatted response line; CRLF is added.
func (r *HostileRequest) Printf(format string, args ...any) error {
	return r.conn.writeLine(fmt.Sprintf(format, args...))
}

// Write writes raw bytes, as they are, and flushes them.
func (r *HostileRequest) Write(p []byte) (int, error) {
	r.conn.wmu.Lock()
	defer r.conn.wmu.Unlock()
	n, err := r.conn.w.Write(p)
	if err == nil {
		err = r.conn.w.Flush()
	}
	return n, err
}

// ReadLine reads the client's next line (DONE after IDLE), without CRLF.
func (r *HostileRequest) ReadLine() (string, error) { return r.conn.readLine() }

// OK completes the command.
func (r *HostileRequest) OK() error { return r.Printf("%s OK done", r.Tag) }

// Default gives the answer the server gives unscripted.
func (r *HostileRequest) Default() error { return r.conn.answer(r) }

func (c *hostileConn) writeLine(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.w.WriteString(s)
	c.w.WriteString("\r\n")
	return c.w.Flush()
}

func (c *hostileConn) readLine() (string, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// readCommand reads one command line with its literals inlined.
func (c *hostileConn) readCommand() (string, error) {
	var b strings.Builder
	for {
		line, err := c.readLine()
		if err != nil {
			return "", err
		}
		n, sync, ok := trailingLiteral(line)
		if !ok {
			b.WriteString(line)
			return b.String(), nil
		}
		b.WriteString(line[:strings.LastIndexByte(line, '{')])
		if n > 1<<20 {
			return "", fmt.Errorf("literal of %d bytes", n)
		}
		if sync {
			if answer, refused := c.h.refusesLiteral(b.String() + line); refused {
				if err := c.writeLine(answer); err != nil {
					return "", err
				}
				return "", errLiteralRefused
			}
			if err := c.writeLine("+ go on"); err != nil {
				return "", err
			}
		}
		lit := make([]byte, n)
		if _, err := io.ReadFull(c.r, lit); err != nil {
			return "", err
		}
		b.WriteString(quote(string(lit)))
	}
}

// errLiteralRefused ends a command that RefuseLiteral answered.
var errLiteralRefused = errors.New("imaptest: literal refused")

// refusesLiteral returns the answer RefuseLiteral set for the command
// whose text so far is line, tag included.
func (h *Hostile) refusesLiteral(line string) (string, bool) {
	tag, rest, _ := strings.Cut(line, " ")
	name, _, _ := strings.Cut(rest, " ")
	name = strings.ToUpper(name)
	h.mu.Lock()
	defer h.mu.Unlock()
	answer, ok := h.beforeLiteral[name]
	if ok {
		h.counts[name]++
	}
	return tag + " " + answer, ok
}

func trailingLiteral(line string) (n int, sync, ok bool) {
	if !strings.HasSuffix(line, "}") {
		return 0, false, false
	}
	open := strings.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false, false
	}
	digits := line[open+1 : len(line)-1]
	sync = !strings.HasSuffix(digits, "+")
	n, err := strconv.Atoi(strings.TrimSuffix(digits, "+"))
	return n, sync, err == nil
}

func (h *Hostile) session(nc net.Conn) {
	c := &hostileConn{h: h, c: nc, r: bufio.NewReader(nc), w: bufio.NewWriter(nc)}
	h.mu.Lock()
	caps := h.caps
	h.mu.Unlock()
	if c.writeLine("* OK [CAPABILITY "+caps+"] hostile ready") != nil {
		return
	}
	for {
		line, err := c.readCommand()
		if errors.Is(err, errLiteralRefused) {
			continue
		}
		if err != nil {
			return
		}
		tag, rest, _ := strings.Cut(line, " ")
		name, args, _ := strings.Cut(rest, " ")
		name = strings.ToUpper(name)
		uid := false
		if name == "UID" {
			uid = true
			name, args, _ = strings.Cut(args, " ")
			name = strings.ToUpper(name)
		}
		r := &HostileRequest{Tag: tag, Name: name, UID: uid, Args: args, Mailbox: c.selected, conn: c}
		h.mu.Lock()
		h.counts[name]++
		f := h.handlers[name]
		h.mu.Unlock()
		if f != nil {
			f(r)
		} else if err := c.answer(r); err != nil {
			return
		}
		if name == "LOGOUT" {
			return
		}
		if name == "STARTTLS" && f == nil {
			h.mu.Lock()
			cfg := h.tls
			h.mu.Unlock()
			if cfg == nil {
				continue
			}
			tc := tls.Server(nc, cfg)
			c.r, c.w = bufio.NewReader(tc), bufio.NewWriter(tc)
		}
	}
}

// answer is the unscripted answer to r.
func (c *hostileConn) answer(r *HostileRequest) error {
	h := c.h
	switch r.Name {
	case "CAPABILITY":
		h.mu.Lock()
		caps := h.caps
		h.mu.Unlock()
		c.writeLine("* CAPABILITY " + caps)
	case "STARTTLS":
		h.mu.Lock()
		offered := h.tls != nil
		h.mu.Unlock()
		if !offered {
			return c.writeLine(r.Tag + " BAD no STARTTLS here")
		}
	case "LOGIN", "NOOP", "CHECK", "ENABLE":
	case "LOGOUT":
		c.writeLine("* BYE bye")
	case "LIST", "LSUB":
		for _, m := range h.mailboxes {
			if err := c.writeName("* "+r.Name+` () "/" `, m.Name, ""); err != nil {
				return err
			}
		}
	case "SELECT", "EXAMINE":
		m := h.find(unquote(r.Args))
		if m == nil {
			c.selected = nil
			return c.writeLine(r.Tag + " NO [NONEXISTENT] no such mailbox")
		}
		c.selected = m
		c.writeLine(fmt.Sprintf("* %d EXISTS", len(m.Messages)))
		c.writeLine("* FLAGS (\\Seen \\Deleted)")
		c.writeLine("* OK [UIDVALIDITY 1] ok")
		c.writeLine(fmt.Sprintf("* OK [UIDNEXT %d] ok", m.uidNext()))
	case "STATUS":
		name, _, _ := strings.Cut(r.Args, " (")
		m := h.find(unquote(name))
		if m == nil {
			return c.writeLine(r.Tag + " NO [NONEXISTENT] no such mailbox")
		}
		c.writeName("* STATUS ", m.Name, fmt.Sprintf(" (MESSAGES %d UIDNEXT %d UIDVALIDITY 1 UNSEEN 0)", len(m.Messages), m.uidNext()))
	case "CLOSE", "UNSELECT":
		c.selected = nil
	case "IDLE":
		if err := c.writeLine("+ idling"); err != nil {
			return err
		}
		if _, err := c.readLine(); err != nil {
			return err
		}
	case "FETCH":
		if r.Mailbox == nil {
			return c.writeLine(r.Tag + " BAD nothing selected")
		}
		if err := c.fetch(r); err != nil {
			return err
		}
	case "SEARCH":
		if r.Mailbox == nil {
			return c.writeLine(r.Tag + " BAD nothing selected")
		}
		var uids []string
		for _, m := range r.Mailbox.Messages {
			uids = append(uids, strconv.Itoa(int(m.UID)))
		}
		if strings.Contains(strings.ToUpper(r.Args), "RETURN") {
			c.writeLine(fmt.Sprintf("* ESEARCH (TAG %q) UID ALL %s", r.Tag, strings.Join(uids, ",")))
		} else {
			c.writeLine("* SEARCH " + strings.Join(uids, " "))
		}
	default:
		return c.writeLine(r.Tag + " BAD unknown command")
	}
	return c.writeLine(r.Tag + " OK done")
}

func (m *HostileMailbox) uidNext() uint32 {
	next := uint32(1)
	for _, msg := range m.Messages {
		next = max(next, msg.UID+1)
	}
	return next
}

func (h *Hostile) find(name string) *HostileMailbox {
	for _, m := range h.mailboxes {
		if m.Name == name || strings.EqualFold(name, "INBOX") && strings.EqualFold(m.Name, "INBOX") {
			return m
		}
	}
	return nil
}

// writeName writes prefix, the name (quoted, or a literal when a quoted
// string cannot hold it) and suffix as one response.
func (c *hostileConn) writeName(prefix, name, suffix string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.w.WriteString(prefix)
	if strings.ContainsAny(name, "\r\n\x00\"\\") || hasHighBit(name) {
		fmt.Fprintf(c.w, "{%d}\r\n%s", len(name), name)
	} else {
		c.w.WriteString(`"` + name + `"`)
	}
	c.w.WriteString(suffix + "\r\n")
	return c.w.Flush()
}

func hasHighBit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return strings.NewReplacer(`\\`, `\`, `\"`, `"`).Replace(s[1 : len(s)-1])
	}
	return s
}

// fetch answers UID FETCH (or FETCH) with the items asked, for every
// message in the set.
func (c *hostileConn) fetch(r *HostileRequest) error {
	setText, itemText, _ := strings.Cut(r.Args, " ")
	items := fetchItems(itemText)
	for i, m := range r.Mailbox.Messages {
		num := uint32(i + 1)
		key := num
		if r.UID {
			key = m.UID
		}
		if !inSet(setText, key, r.Mailbox.uidNext()) {
			continue
		}
		if err := c.fetchOne(num, m, items, r.UID); err != nil {
			return err
		}
	}
	return nil
}

// fetchItems splits "(UID BODY.PEEK[HEADER.FIELDS (A B)]<0.10> FLAGS)"
// into its items.
func fetchItems(s string) []string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")") {
		s = s[1 : len(s)-1]
	}
	var items []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[', '(':
			depth++
		case ']', ')':
			depth--
		case ' ':
			if depth == 0 {
				if i > start {
					items = append(items, s[start:i])
				}
				start = i + 1
			}
		}
	}
	if start < len(s) {
		items = append(items, s[start:])
	}
	return items
}

func inSet(set string, n, next uint32) bool {
	for _, r := range strings.Split(set, ",") {
		lo, hi, isRange := strings.Cut(r, ":")
		a, b := parseSeq(lo, next), uint32(0)
		if isRange {
			b = parseSeq(hi, next)
		} else {
			b = a
		}
		if a > b {
			a, b = b, a
		}
		if n >= a && n <= b {
			return true
		}
	}
	return false
}

func parseSeq(s string, next uint32) uint32 {
	if s == "*" {
		return max(next-1, 1)
	}
	n, _ := strconv.ParseUint(s, 10, 32)
	return uint32(n)
}

func (c *hostileConn) fetchOne(num uint32, m *HostileMessage, items []string, uid bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	header, text, _ := bytes.Cut(m.Raw, []byte("\r\n\r\n"))
	header = append(header[:len(header):len(header)], "\r\n\r\n"...)
	fmt.Fprintf(c.w, "* %d FETCH (", num)
	if uid && !containsFold(items, "UID") {
		items = append([]string{"UID"}, items...)
	}
	for i, item := range items {
		if i > 0 {
			c.w.WriteString(" ")
		}
		up := strings.ToUpper(item)
		name := strings.Replace(up, "BODY.PEEK[", "BODY[", 1)
		var partial string
		if j := strings.IndexByte(name, '<'); j >= 0 {
			name, partial = name[:j], name[j+1:len(name)-1]
		}
		if f := m.Items[name]; f != nil {
			if err := f(c.w); err != nil {
				return err
			}
			continue
		}
		switch {
		case name == "UID":
			fmt.Fprintf(c.w, "UID %d", m.UID)
		case name == "FLAGS":
			c.w.WriteString("FLAGS ()")
		case name == "INTERNALDATE":
			c.w.WriteString(`INTERNALDATE "01-Jan-2024 00:00:00 +0000"`)
		case name == "RFC822.SIZE":
			fmt.Fprintf(c.w, "RFC822.SIZE %d", len(m.Raw))
		case name == "ENVELOPE":
			c.w.WriteString("ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)")
		case name == "BODYSTRUCTURE" || name == "BODY":
			lines := bytes.Count(text, []byte("\n"))
			fmt.Fprintf(c.w, `%s ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" %d %d NIL NIL NIL NIL)`, name, len(text), lines)
		case strings.HasPrefix(name, "BODY["):
			var data []byte
			switch section := name[len("BODY[") : len(name)-1]; {
			case section == "":
				data = m.Raw
			case strings.HasPrefix(section, "HEADER"):
				data = header
			default: // TEXT, 1: a single part
				data = text
			}
			if partial != "" {
				off, size, _ := strings.Cut(partial, ".")
				o, _ := strconv.Atoi(off)
				n, _ := strconv.Atoi(size)
				o = min(o, len(data))
				data = data[o:min(o+n, len(data))]
				name += "<" + off + ">"
			}
			fmt.Fprintf(c.w, "%s {%d}\r\n", name, len(data))
			c.w.Write(data)
		default:
			c.w.WriteString("FLAGS ()")
		}
	}
	c.w.WriteString(")\r\n")
	return c.w.Flush()
}

func containsFold(items []string, s string) bool {
	for _, it := range items {
		if strings.EqualFold(it, s) {
			return true
		}
	}
	return false
}
