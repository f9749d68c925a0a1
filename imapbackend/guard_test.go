package imapbackend

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// validMailboxName must agree with go-imap's modified UTF-7 decoder: a
// name it calls valid that go-imap rejects still fails the connection.
func TestValidMailboxName(t *testing.T) {
	for name, want := range map[string]bool{
		"INBOX": true, "inbox": true, "Good": true, "Q&-A": true, "Entw&APw-rfe": true,
		"&2,,f,w-": true, "日本": true, "a&AAA-b": true, // raw UTF-8, and NUL in base64, as go-imap accepts
		"Q&A": false, "Ctl\x01x": false, "Nul\x00x": false, "Raw\xffbyte": false, "Del\x7f": false,
		"&Jjo": false, "&AGE-&AGE-": false, "&AGE-": false, "&A-": false, "&AB-": false, "&AAA\r\n-": false,
		"&2,,-": false, // a lone surrogate
	} {
		if got := validMailboxName([]byte(name)); got != want {
			t.Errorf("validMailboxName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestRewriteMailbox(t *testing.T) {
	for _, tc := range []struct{ in, rest, want string }{
		{`* LIST () "/" "Good"` + "\r\n", "", `* LIST () "/" "Good"` + "\r\n"},
		{`* LIST (\Noselect) "/" "Q&A"` + "\r\n", "", `* LIST (\Noselect) "/" "&2,,f,w-512641"` + "\r\n"},
		{`* LIST () NIL Q&A` + "\r\n", "", `* LIST () NIL "&2,,f,w-512641"` + "\r\n"},
		{`* LSUB () "." {3}` + "\r\n", "N\x00x\r\n", `* LSUB () "." "&2,,f,w-4e0078"` + "\r\n"},
		{`* LIST () "." {4}` + "\r\n", "Good\r\n", `* LIST () "." {4}` + "\r\nGood\r\n"},
		{`* STATUS "Q\"&A" (MESSAGES 1)` + "\r\n", "", `* STATUS "&2,,f,w-51222641" (MESSAGES 1)` + "\r\n"},
		{`* 1 FETCH (UID 1)` + "\r\n", "", `* 1 FETCH (UID 1)` + "\r\n"},
	} {
		got, err := rewriteMailbox([]byte(tc.in), bufio.NewReader(strings.NewReader(tc.rest)))
		if err != nil || string(got) != tc.want {
			t.Errorf("rewriteMailbox(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := rewriteMailbox([]byte(`* LIST () "/" {99999999}`+"\r\n"), bufio.NewReader(bytes.NewReader(nil))); err == nil {
		t.Error("a 100 MB mailbox name was read")
	}
}

func TestEscapeRawName(t *testing.T) {
	for raw, want := range map[string]string{
		"Q&A": "Q%26A", "Nul\x00x": "Nul%00x", "Raw\xffbyte": "Raw%FFbyte", "a%b/c": "a%25b%2Fc",
		"日本\x01": "日本%01", ".": "%2E", "..": "%2E%2E", "": "%",
	} {
		got := EscapeRawName(raw)
		if got != want {
			t.Errorf("EscapeRawName(%q) = %q, want %q", raw, got, want)
		}
		back, ok := UnescapeRawName(got)
		if !ok || back != raw {
			t.Errorf("UnescapeRawName(%q) = %q, %v; want %q", got, back, ok, raw)
		}
	}
	for _, bad := range []string{"%2e", "%4", "%41", "Q&A"} {
		if _, ok := UnescapeRawName(bad); ok {
			t.Errorf("UnescapeRawName(%q) accepted a name EscapeRawName never makes", bad)
		}
	}
}

func TestProgress(t *testing.T) {
	for line, want := range map[string]bool{
		"* 3 EXISTS\r\n": false, "* 1 RECENT\r\n": false, "* 2 EXPUNGE\r\n": false, "* OK still here\r\n": false,
		"* 1 FETCH (FLAGS (\\Seen))\r\n": false, "* 1 FETCH (UID 7 FLAGS () MODSEQ (3))\r\n": false,
		"* 1 FETCH (UID 7 BODY[TEXT] {3}\r\n": true, "* 1 FETCH (UID 7 RFC822.SIZE 4)\r\n": true,
		"A1 OK done\r\n": true, "+ go on\r\n": true, "* SEARCH 1 2\r\n": true, "* LIST () \"/\" INBOX\r\n": true,
	} {
		if got := progress([]byte(line)); got != want {
			t.Errorf("progress(%q) = %v, want %v", line, got, want)
		}
	}
}

func TestGuardBounds(t *testing.T) {
	check := func(name string, lines []string, wantErr bool) {
		t.Helper()
		g := &guard{maxLiteral: 1 << 20}
		var err error
		for _, l := range lines {
			if _, err = g.line([]byte(l), bufio.NewReader(strings.NewReader(""))); err != nil {
				break
			}
		}
		if (err != nil) != wantErr {
			t.Errorf("%s: %v, want an error: %v", name, err, wantErr)
		}
	}
	deep := strings.Repeat("(", MaxParseDepth)
	check("512 deep", []string{"* 1 FETCH " + deep + strings.Repeat(")", MaxParseDepth) + "\r\n"}, false)
	check("513 deep", []string{"* 1 FETCH (" + deep + "\r\n"}, true)
	// Depth carries over a literal: the response goes on after it.
	check("513 deep across a literal", []string{"* 1 FETCH " + deep[:300] + "{3}\r\n", deep[:300] + "\r\n"}, true)
	check("depth of one response only", []string{"* 1 FETCH " + deep[:300] + "\r\n", "* 2 FETCH " + deep[:300] + "\r\n"}, false)
	check("parentheses in a quoted string", []string{`* 1 FETCH (ENVELOPE ("` + deep + deep + `"))` + "\r\n"}, false)
	check("parentheses in status text", []string{"* OK " + deep + deep + "\r\n", "A1 NO " + deep + deep + "\r\n"}, false)
	check("wide", []string{"* 1 FETCH (BODYSTRUCTURE " + strings.Repeat("()", MaxResponseLists+1) + ")\r\n"}, true)
	check("literal at the bound", []string{"* 1 FETCH (BODY[] {1048576}\r\n"}, false)
	check("literal past the bound", []string{"* 1 FETCH (BODY[] {1048577}\r\n"}, true)
	check("literal8 past the bound", []string{"* 1 FETCH (BINARY[1] ~{1048577}\r\n"}, true)
}
