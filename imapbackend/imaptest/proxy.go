package imaptest

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// Proxy forwards TCP connections to a backend address and counts the IMAP
// commands clients send (and the bytes, either way): a LatencyProxy that
// adds no latency.
//
// Tests point the code under test at Addr instead of the server's address
// and then assert how many commands (round trips) an operation cost.
type Proxy = LatencyProxy

// NewProxy starts a proxy on a free port of 127.0.0.1 that forwards every
// connection to backend.
func NewProxy(backend string) (*Proxy, error) { return NewLatencyProxy(backend, 0) }

// scanCommands copies the client-to-server stream from r to w and calls
// count with the name of every command it carries. It returns when r or w
// fails.
//
// A command is a line "TAG SP NAME ...". A line ending in a literal
// announcement {N} or {N+} (also ~{N} for literal8) is followed by N bytes of
// literal data and then by the rest of the same command, which may announce
// further literals; none of that is a new command. Lines that are not
// commands — AUTHENTICATE responses (a single base64 token or "*") and the
// DONE ending IDLE — have no SP after a tag and are not counted.
func scanCommands(r io.Reader, w io.Writer, count func(name string)) error {
	br := bufio.NewReader(r)
	continuation := false // the next line continues a command after a literal
	for {
		line, err := br.ReadBytes('\n')
		// Count before forwarding: once the server has the command it may
		// answer, and a test that resets the counters after the answer must
		// not see this command counted late.
		if err == nil && !continuation {
			if name, ok := commandName(line); ok {
				count(name)
			}
		}
		if len(line) > 0 {
			if _, werr := w.Write(line); werr != nil {
				return werr
			}
		}
		if err != nil {
			return err
		}
		n, ok := literalSize(line)
		continuation = ok
		if ok {
			if _, err := io.CopyN(w, br, n); err != nil {
				return err
			}
		}
	}
}

// commandName returns the upper-case name of the command on line, with the
// following word for UID commands.
func commandName(line []byte) (string, bool) {
	fields := strings.Fields(string(bytes.TrimRight(line, "\r\n")))
	if len(fields) < 2 || !isTag(fields[0]) {
		return "", false
	}
	name := strings.ToUpper(fields[1])
	if !isAtom(name) {
		return "", false
	}
	if name == "UID" && len(fields) > 2 {
		name += " " + strings.ToUpper(fields[2])
	}
	return name, true
}

// isTag reports whether s is a valid tag: astring characters except '+'.
func isTag(s string) bool {
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\+`, c) >= 0 {
			return false
		}
	}
	return s != ""
}

// isAtom reports whether s looks like a command name.
func isAtom(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return s != ""
}

// literalSize reports whether line ends with a literal announcement and the
// literal's size.
func literalSize(line []byte) (int64, bool) {
	line = bytes.TrimRight(line, "\r\n")
	if !bytes.HasSuffix(line, []byte("}")) {
		return 0, false
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false
	}
	digits := bytes.TrimSuffix(line[open+1:len(line)-1], []byte("+"))
	if len(digits) == 0 || len(digits) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
