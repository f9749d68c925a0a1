package imapbackend

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

func qdate(day int, month time.Month, year int) time.Time {
	return time.Date(year, month, day, 0, 0, 0, 0, time.UTC)
}

func hdr(key, value string) []imap.SearchCriteriaHeaderField {
	return []imap.SearchCriteriaHeaderField{{Key: key, Value: value}}
}

func TestParseQuery(t *testing.T) {
	seen := []imap.Flag{imap.FlagSeen}
	tests := []struct {
		in   string
		want imap.SearchCriteria
	}{
		{`FROM alice`, imap.SearchCriteria{Header: hdr("From", "alice")}},
		{`from alice`, imap.SearchCriteria{Header: hdr("From", "alice")}},
		{`FROM alice@example.com`, imap.SearchCriteria{Header: hdr("From", "alice@example.com")}},
		{`TO bob`, imap.SearchCriteria{Header: hdr("To", "bob")}},
		{`CC carol`, imap.SearchCriteria{Header: hdr("Cc", "carol")}},
		{`BCC dave`, imap.SearchCriteria{Header: hdr("Bcc", "dave")}},
		{`SINCE 13-Jul-2013 TEXT Apress`, imap.SearchCriteria{Since: qdate(13, time.July, 2013), Text: []string{"Apress"}}},
		{`OR (SINCE 20-Aug-2010) (TEXT Apress)`, imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{
			{Since: qdate(20, time.August, 2010)},
			{Text: []string{"Apress"}},
		}}}},
		{`OR SINCE 20-Aug-2010 TEXT Apress`, imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{
			{Since: qdate(20, time.August, 2010)},
			{Text: []string{"Apress"}},
		}}}},
		{`UNSEEN`, imap.SearchCriteria{NotFlag: seen}},
		{`unseen`, imap.SearchCriteria{NotFlag: seen}},
		{`SEEN`, imap.SearchCriteria{Flag: seen}},
		{`FLAGGED`, imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}}},
		{`ANSWERED DELETED DRAFT`, imap.SearchCriteria{Flag: []imap.Flag{imap.FlagAnswered, imap.FlagDeleted, imap.FlagDraft}}},
		{`UNANSWERED UNDELETED UNDRAFT UNFLAGGED`, imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagAnswered, imap.FlagDeleted, imap.FlagDraft, imap.FlagFlagged}}},
		{`KEYWORD $Important UNKEYWORD Work`, imap.SearchCriteria{Flag: []imap.Flag{"$Important"}, NotFlag: []imap.Flag{"Work"}}},
		{`ALL`, imap.SearchCriteria{}},
		{`ALL FROM a`, imap.SearchCriteria{Header: hdr("From", "a")}},
		{`LARGER 1000000`, imap.SearchCriteria{Larger: 1000000}},
		{`SMALLER 5000`, imap.SearchCriteria{Smaller: 5000}},
		// The stricter bound wins; SMALLER must survive a later key without one.
		{`SMALLER 5000 LARGER 10 SMALLER 9000 LARGER 20`, imap.SearchCriteria{Larger: 20, Smaller: 5000}},
		{`LARGER 9223372036854775807`, imap.SearchCriteria{Larger: 9223372036854775807}},
		{`HEADER X-Spam yes`, imap.SearchCriteria{Header: hdr("X-Spam", "yes")}},
		{`HEADER "Message-ID" "<abc@example.com>"`, imap.SearchCriteria{Header: hdr("Message-ID", "<abc@example.com>")}},
		{`HEADER X-Spam ""`, imap.SearchCriteria{Header: hdr("X-Spam", "")}},
		{`SUBJECT "quarterly report"`, imap.SearchCriteria{Header: hdr("Subject", "quarterly report")}},
		{`SUBJECT "say \"hi\" \\o/"`, imap.SearchCriteria{Header: hdr("Subject", `say "hi" \o/`)}},
		{`SUBJECT [PATCH]`, imap.SearchCriteria{Header: hdr("Subject", "[PATCH]")}},
		{`CHARSET UTF-8 TEXT "會議"`, imap.SearchCriteria{Text: []string{"會議"}}},
		{`charset us-ascii FROM a`, imap.SearchCriteria{Header: hdr("From", "a")}},
		{`TEXT "會議 記錄"`, imap.SearchCriteria{Text: []string{"會議 記錄"}}},
		{`BODY "50% off"`, imap.SearchCriteria{Body: []string{"50% off"}}},
		{`invoice`, imap.SearchCriteria{Text: []string{"invoice"}}},
		{`  invoice  `, imap.SearchCriteria{Text: []string{"invoice"}}},
		{`quarterly report`, imap.SearchCriteria{Text: []string{"quarterly report"}}},
		{`"quarterly report"`, imap.SearchCriteria{Text: []string{"quarterly report"}}},
		{`會議`, imap.SearchCriteria{Text: []string{"會議"}}},
		{`會議 FROM`, imap.SearchCriteria{Text: []string{"會議 FROM"}}},
		{`1-Nov-2026`, imap.SearchCriteria{Text: []string{"1-Nov-2026"}}},
		{`report (draft)`, imap.SearchCriteria{Text: []string{"report (draft)"}}},
		{`CHARSET UTF-8 quarterly report`, imap.SearchCriteria{Text: []string{"quarterly report"}}},
		{`NOT SEEN FROM bob`, imap.SearchCriteria{Not: []imap.SearchCriteria{{Flag: seen}}, Header: hdr("From", "bob")}},
		{`NOT (FROM a TO b)`, imap.SearchCriteria{Not: []imap.SearchCriteria{{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "a"}, {Key: "To", Value: "b"}}}}}},
		{`(FROM a TO b)`, imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "a"}, {Key: "To", Value: "b"}}}},
		{`UID 1:10,20`, imap.SearchCriteria{UID: []imap.UIDSet{{{Start: 1, Stop: 10}, {Start: 20, Stop: 20}}}}},
		{`UID 5:*`, imap.SearchCriteria{UID: []imap.UIDSet{{{Start: 5, Stop: 0}}}}},
		{`1:5,7`, imap.SearchCriteria{SeqNum: []imap.SeqSet{{{Start: 1, Stop: 5}, {Start: 7, Stop: 7}}}}},
		{`*`, imap.SearchCriteria{SeqNum: []imap.SeqSet{{{Start: 0, Stop: 0}}}}},
		{`UNSEEN FROM alice SINCE 16-Nov-2026`, imap.SearchCriteria{NotFlag: seen, Header: hdr("From", "alice"), Since: qdate(16, time.November, 2026)}},
		{`LARGER 1000000 SINCE 1-Oct-2026`, imap.SearchCriteria{Larger: 1000000, Since: qdate(1, time.October, 2026)}},
		{`since 01-nov-2026`, imap.SearchCriteria{Since: qdate(1, time.November, 2026)}},
		{`BEFORE "1-Nov-2026"`, imap.SearchCriteria{Before: qdate(1, time.November, 2026)}},
		{`ON 5-Nov-2026`, imap.SearchCriteria{Since: qdate(5, time.November, 2026), Before: qdate(6, time.November, 2026)}},
		{`ON 31-Dec-2026`, imap.SearchCriteria{Since: qdate(31, time.December, 2026), Before: qdate(1, time.January, 2027)}},
		{`SENTON 29-Feb-2028`, imap.SearchCriteria{SentSince: qdate(29, time.February, 2028), SentBefore: qdate(1, time.March, 2028)}},
		{`SENTSINCE 1-Jan-2026 SENTBEFORE 1-Feb-2026`, imap.SearchCriteria{SentSince: qdate(1, time.January, 2026), SentBefore: qdate(1, time.February, 2026)}},
		// The same date key twice: the stricter bound wins.
		{`SINCE 1-Nov-2026 SINCE 5-Nov-2026 SINCE 2-Nov-2026 BEFORE 1-Dec-2026 BEFORE 20-Nov-2026`, imap.SearchCriteria{Since: qdate(5, time.November, 2026), Before: qdate(20, time.November, 2026)}},
		{`OR (FROM a OR TO b SUBJECT c) (NOT SEEN)`, imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{
			{Header: hdr("From", "a"), Or: [][2]imap.SearchCriteria{{{Header: hdr("To", "b")}, {Header: hdr("Subject", "c")}}}},
			{Not: []imap.SearchCriteria{{Flag: seen}}},
		}}}},
		{`OR OR FROM a FROM b FROM c`, imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{
			{Or: [][2]imap.SearchCriteria{{{Header: hdr("From", "a")}, {Header: hdr("From", "b")}}}},
			{Header: hdr("From", "c")},
		}}}},
		{`((FROM a)) (((UNSEEN)))`, imap.SearchCriteria{Header: hdr("From", "a"), NotFlag: seen}},
		{`FROM seen`, imap.SearchCriteria{Header: hdr("From", "seen")}},
		{strings.Repeat("NOT ", MaxQueryDepth) + "SEEN", nestedNot(MaxQueryDepth)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseQuery(tt.in)
			if err != nil {
				t.Fatalf("ParseQuery(%q) error: %v", tt.in, err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("ParseQuery(%q) =\n  %+v\nwant\n  %+v", tt.in, *got, tt.want)
			}
		})
	}
}

func nestedNot(n int) imap.SearchCriteria {
	c := imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}
	for range n {
		c = imap.SearchCriteria{Not: []imap.SearchCriteria{c}}
	}
	return c
}

func TestParseQueryErrors(t *testing.T) {
	tests := []struct {
		in     string
		msg    string
		column int
	}{
		{`SINCE yesterday`, `SINCE needs a date like 1-Nov-2026, got "yesterday"`, 7},
		{`SINCE`, `SINCE needs a date like 1-Nov-2026, but the query ends there`, 6},
		{`SINCE 31-Feb-2026`, `SINCE needs a date like 1-Nov-2026, got "31-Feb-2026"`, 7},
		{`SINCE 1-Foo-2026`, `SINCE needs a date like 1-Nov-2026, got "1-Foo-2026"`, 7},
		{`SINCE 1-Nov-26`, `SINCE needs a date like 1-Nov-2026, got "1-Nov-26"`, 7},
		{`SINCE 001-Nov-2026`, `SINCE needs a date like 1-Nov-2026, got "001-Nov-2026"`, 7},
		{`SINCE 0-Nov-2026`, `SINCE needs a date like 1-Nov-2026, got "0-Nov-2026"`, 7},
		{`SINCE 1-Jan-0001`, `SINCE needs a date like 1-Nov-2026, got "1-Jan-0001"`, 7},
		{`BEFORE 1-Nov--202`, `BEFORE needs a date like 1-Nov-2026, got "1-Nov--202"`, 8},
		{`ON 31-Dec-9999`, `ON needs a date before 31-Dec-9999`, 4},
		{`LARGER big`, `LARGER needs a size in bytes like 1000000, got "big"`, 8},
		{`LARGER -5`, `LARGER needs a size in bytes like 1000000, got "-5"`, 8},
		{`LARGER 9223372036854775808`, `LARGER needs a size in bytes like 1000000, got "9223372036854775808"`, 8},
		{`LARGER "5"`, `LARGER needs a size in bytes like 1000000, got "5"`, 8},
		{`SMALLER 0`, `SMALLER 0 matches no message; use a size of at least 1`, 9},
		{`FROM`, `FROM needs a string (a word or a "quoted string"), but the query ends there`, 5},
		{`(FROM)`, `FROM needs a string (a word or a "quoted string"), got ")"`, 6},
		{`(FROM a`, `unclosed "(" (missing ")")`, 1},
		{`OR (FROM a) ((TO b)`, `unclosed "(" (missing ")")`, 13},
		{`FROM a)`, `unmatched ")"`, 7},
		{`FROM a) (TO b`, `unmatched ")"`, 7},
		{`()`, `empty parentheses: a list needs at least one search key`, 1},
		{`TEXT "unterminated`, `unterminated quoted string (missing closing ")`, 6},
		{`TEXT "ends in backslash\`, `unterminated quoted string (missing closing ")`, 6},
		{`TEXT "bad \n escape"`, `in a quoted string a backslash may only escape " or \`, 11},
		{`TEXT "a"b`, `expected a space after the quoted string`, 9},
		{`TEXT a"b"`, `a quote (") may only start a quoted string; put a space before it`, 7},
		{"TEXT x\r\nA1 DELETE INBOX", `control character U+000D is not allowed in a search query`, 7},
		{"TEXT \"x\r\nA1 DELETE INBOX\"", `control character U+000D is not allowed in a search query`, 8},
		{"TEXT x\nA1 DELETE INBOX", `control character U+000A is not allowed in a search query`, 7},
		{"invoice\r\nA1 LOGOUT", `control character U+000D is not allowed in a search query`, 8},
		{"TEXT x\x00y", `control character U+0000 is not allowed in a search query`, 7},
		{"TEXT x\ty", `control character U+0009 is not allowed in a search query`, 7},
		{"TEXT \u0085", `control character U+0085 is not allowed in a search query`, 6},
		{"TEXT \x7f", `control character U+007F is not allowed in a search query`, 6},
		{"TEXT \xff", `search query is not valid UTF-8`, 6},
		{`TEXT {5}`, `IMAP literals ({n}) are not supported; use a "quoted string"`, 6},
		{`TEXT a{12+}`, `IMAP literals ({n}) are not supported; use a "quoted string"`, 7},
		{`HEADER X-Spam`, `HEADER needs a string to look for in X-Spam after the field name, but the query ends there`, 14},
		{`HEADER`, `HEADER needs a header field name like X-Spam and then a string, but the query ends there`, 7},
		{`HEADER "" yes`, `HEADER needs a header field name like X-Spam and then a string, got ""`, 8},
		{`HEADER X:Spam yes`, `HEADER needs a header field name like X-Spam and then a string, got "X:Spam"`, 8},
		{`OR FROM a`, `OR needs a second search key, but the query ends there`, 10},
		{`OR`, `OR needs two search keys, but the query ends there`, 3},
		{`(OR FROM a) SEEN`, `OR needs a second search key, got ")"`, 11},
		{`NOT`, `NOT needs a search key after it, but the query ends there`, 4},
		{`(NOT)`, `NOT needs a search key after it, got ")"`, 5},
		{``, `empty search query`, 1},
		{`   `, `empty search query`, 1},
		{`FROM a FOO`, `unknown search key "FOO" (to search for text, write TEXT "your words")`, 8},
		{`to do list`, `unknown search key "list" (to search for text, write TEXT "your words")`, 7},
		{`FROM a "b"`, `expected a search key, got the string "b" (to search for text, write TEXT "b")`, 8},
		{`UID abc`, `UID needs a set of UIDs like 1:10,20, got "abc"`, 5},
		{`UID 0`, `UID needs a set of UIDs like 1:10,20, got "0"`, 5},
		{`UID 1,,2`, `UID needs a set of UIDs like 1:10,20, got "1,,2"`, 5},
		{`UID 4294967296`, `UID needs a set of UIDs like 1:10,20, got "4294967296"`, 5},
		{`UID`, `UID needs a set of UIDs like 1:10,20, but the query ends there`, 4},
		{`0`, `bad message sequence set "0" (want e.g. 1:5,7 or 10:*)`, 1},
		{`1::2`, `bad message sequence set "1::2" (want e.g. 1:5,7 or 10:*)`, 1},
		{`KEYWORD \Seen`, `KEYWORD needs a keyword (flag name) like $Important or Work, got "\\Seen"`, 9},
		{`KEYWORD "Work"`, `KEYWORD needs a keyword (flag name) like $Important or Work, got "Work"`, 9},
		{`UNKEYWORD`, `UNKEYWORD needs a keyword (flag name) like $Important or Work, but the query ends there`, 10},
		{`CHARSET ISO-8859-1 TEXT x`, `unsupported charset "ISO-8859-1" (only UTF-8 and US-ASCII)`, 9},
		{`CHARSET UTF-8`, `CHARSET must be followed by search keys`, 14},
		{`CHARSET`, `CHARSET needs a charset name like UTF-8, but the query ends there`, 8},
		{`FROM a CHARSET UTF-8`, `CHARSET may only come first in the query`, 8},
		{`FROM 會議 SINCE x`, `SINCE needs a date like 1-Nov-2026, got "x"`, 15},
		{strings.Repeat("NOT ", MaxQueryDepth+1) + "SEEN", `search query nested too deeply (more than 32 levels)`, 4*MaxQueryDepth + 1},
		{strings.Repeat("(", 40) + "SEEN" + strings.Repeat(")", 40), `search query nested too deeply (more than 32 levels)`, MaxQueryDepth + 1},
		{strings.Repeat("OR SEEN ", 40) + "SEEN", `search query nested too deeply (more than 32 levels)`, 8*MaxQueryDepth + 1},
		{"TEXT " + strings.Repeat("a", MaxQueryLen), `search query too long (4101 bytes, at most 4096)`, MaxQueryLen + 1},
	}
	for _, tt := range tests {
		name := tt.in
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			got, err := ParseQuery(tt.in)
			if err == nil {
				t.Fatalf("ParseQuery(%q) = %+v, want an error", tt.in, *got)
			}
			if got != nil {
				t.Errorf("ParseQuery(%q) returned criteria %+v along with the error", tt.in, *got)
			}
			var qe *QueryError
			if !errors.As(err, &qe) {
				t.Fatalf("ParseQuery(%q) error %T %v, want *QueryError", tt.in, err, err)
			}
			if qe.Msg != tt.msg || qe.Column != tt.column {
				t.Errorf("ParseQuery(%q) error\n  %q at column %d\nwant\n  %q at column %d", tt.in, qe.Msg, qe.Column, tt.msg, tt.column)
			}
			if want := fmt.Sprintf("%s (column %d)", tt.msg, tt.column); err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
		})
	}
}

// TestParseQueryMaxLen: exactly MaxQueryLen bytes is fine.
func TestParseQueryMaxLen(t *testing.T) {
	q := "TEXT " + strings.Repeat("a", MaxQueryLen-5)
	got, err := ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	if want := (imap.SearchCriteria{Text: []string{strings.Repeat("a", MaxQueryLen-5)}}); !reflect.DeepEqual(*got, want) {
		t.Errorf("got %+v", *got)
	}
}

// criteriaStrings calls f with every string in c, recursively.
func criteriaStrings(c *imap.SearchCriteria, f func(string)) {
	for _, h := range c.Header {
		f(h.Key)
		f(h.Value)
	}
	for _, s := range c.Body {
		f(s)
	}
	for _, s := range c.Text {
		f(s)
	}
	for _, fl := range c.Flag {
		f(string(fl))
	}
	for _, fl := range c.NotFlag {
		f(string(fl))
	}
	for i := range c.Not {
		criteriaStrings(&c.Not[i], f)
	}
	for i := range c.Or {
		criteriaStrings(&c.Or[i][0], f)
		criteriaStrings(&c.Or[i][1], f)
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		`FROM alice`, `SINCE 13-Jul-2013 TEXT Apress`, `OR (SINCE 20-Aug-2010) (TEXT Apress)`,
		`UNSEEN`, `LARGER 1000000`, `HEADER X-Spam yes`, `SUBJECT "quarterly report"`,
		`CHARSET UTF-8 TEXT "會議"`, `invoice`, `quarterly report`, `NOT SEEN FROM bob`,
		`UID 1:10,20`, `1:5,7`, `OR (FROM a OR TO b SUBJECT c) (NOT SEEN)`, `ON 31-Dec-9999`,
		"TEXT x\r\nA1 DELETE INBOX", `TEXT "a\"b\\c"`, `KEYWORD $Junk`, `UNSEEN FLAGGED`,
		`SENTON 1-Jan-2026 SMALLER 10`, `TEXT {5}`, `(((`, `"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		c, err := ParseQuery(q)
		if err != nil {
			if c != nil {
				t.Fatalf("criteria and error for %q", q)
			}
			var qe *QueryError
			if !errors.As(err, &qe) || qe.Column < 1 || qe.Offset < 0 || qe.Offset > len(q) {
				t.Fatalf("bad error for %q: %#v", q, err)
			}
			return
		}
		if len(q) > MaxQueryLen {
			t.Fatalf("accepted a %d-byte query", len(q))
		}
		if strings.ContainsAny(q, "\r\n\x00") {
			t.Fatalf("accepted %q", q)
		}
		criteriaStrings(c, func(s string) {
			if strings.ContainsAny(s, "\r\n\x00") || strings.ContainsFunc(s, unicode.IsControl) {
				t.Fatalf("ParseQuery(%q): control character in %q", q, s)
			}
		})
		for _, fl := range append(slices.Clone(c.Flag), c.NotFlag...) {
			if fl == "" || strings.ContainsAny(string(fl), " ()\"{") {
				t.Fatalf("ParseQuery(%q): bad flag %q", q, fl)
			}
		}
		for _, s := range c.UID {
			if len(s) == 0 {
				t.Fatalf("ParseQuery(%q): empty UID set", q)
			}
		}
		for _, s := range c.SeqNum {
			if len(s) == 0 {
				t.Fatalf("ParseQuery(%q): empty sequence set", q)
			}
		}
	})
}

// TestParseQueryServer writes parsed criteria with a real go-imap client to
// go-imap's in-memory server and checks that the server accepts the UID
// SEARCH and finds the expected messages.
func TestParseQueryServer(t *testing.T) {
	for _, caps := range []struct {
		name string
		set  imap.CapSet
	}{
		{"IMAP4rev1", imap.CapSet{imap.CapIMAP4rev1: {}}},
		{"IMAP4rev2", imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}}},
	} {
		t.Run(caps.name, func(t *testing.T) {
			c := newQueryTestClient(t, caps.set)
			tests := []struct {
				q    string
				want []imap.UID
			}{
				{`FROM alice`, []imap.UID{1}},
				{`TEXT Apress`, []imap.UID{1}},
				{`invoice`, []imap.UID{1}},
				{`quarterly report`, []imap.UID{1}},
				{`SUBJECT "quarterly report"`, []imap.UID{1}},
				{`CHARSET UTF-8 TEXT "會議"`, []imap.UID{1}},
				{`TEXT "會議 記錄"`, []imap.UID{1}},
				{`BODY invoice`, []imap.UID{1}},
				{`TO bob`, []imap.UID{1}},
				{`SINCE 1-Oct-2026`, []imap.UID{1, 3}},
				{`SINCE 13-Jul-2013 TEXT Apress`, []imap.UID{1}},
				{`BEFORE 1-Jan-2011`, []imap.UID{2}},
				{`ON 16-Nov-2026`, []imap.UID{1}},
				{`SENTSINCE 1-Nov-2026`, []imap.UID{1}},
				{`OR (SINCE 20-Aug-2010) (TEXT Apress)`, []imap.UID{1, 3}},
				{`OR (FROM carol OR TO nobody SUBJECT lunch) (FLAGGED)`, []imap.UID{3}},
				{`OR (FROM carol) (OR TO nobody SUBJECT lunch)`, []imap.UID{2, 3}},
				{`NOT SEEN`, []imap.UID{1}},
				{`NOT SEEN FROM bob`, nil},
				{`NOT (FROM alice SEEN)`, []imap.UID{1, 2, 3}},
				{`UNSEEN`, []imap.UID{1}},
				{`SEEN`, []imap.UID{2, 3}},
				{`FLAGGED`, []imap.UID{3}},
				{`UNFLAGGED`, []imap.UID{1, 2}},
				{`KEYWORD $Important`, []imap.UID{2}},
				{`UNKEYWORD $Important`, []imap.UID{1, 3}},
				{`LARGER 1000000`, []imap.UID{3}},
				{`SMALLER 1000000`, []imap.UID{1, 2}},
				{`LARGER 1000000 SINCE 1-Oct-2026`, []imap.UID{3}},
				{`HEADER X-Spam yes`, []imap.UID{2}},
				{`UNSEEN FROM alice SINCE 16-Nov-2026`, []imap.UID{1}},
				{`UID 1:10,20`, []imap.UID{1, 2, 3}},
				{`UID 2:*`, []imap.UID{2, 3}},
				{`1:2`, []imap.UID{1, 2}},
				{`ALL`, []imap.UID{1, 2, 3}},
				{`OR OR FROM alice FROM bob FROM carol`, []imap.UID{1, 2, 3}},
			}
			for _, tt := range tests {
				crit, err := ParseQuery(tt.q)
				if err != nil {
					t.Fatalf("ParseQuery(%q): %v", tt.q, err)
				}
				data, err := c.UIDSearch(crit, nil).Wait()
				if err != nil {
					t.Errorf("UID SEARCH for %q rejected: %v", tt.q, err)
					continue
				}
				if got := data.AllUIDs(); !slices.Equal(got, tt.want) {
					t.Errorf("UID SEARCH for %q = %v, want %v", tt.q, got, tt.want)
				}
			}
			// Keys the memory server may or may not implement: the command must
			// at least go through without breaking the connection.
			for _, q := range []string{`ANSWERED DELETED DRAFT`} {
				crit, err := ParseQuery(q)
				if err != nil {
					t.Fatalf("ParseQuery(%q): %v", q, err)
				}
				if _, err := c.UIDSearch(crit, nil).Wait(); err != nil {
					t.Logf("UID SEARCH for %q: %v", q, err)
				}
			}
			if err := c.Noop().Wait(); err != nil {
				t.Fatalf("connection broken after the searches: %v", err)
			}
		})
	}
}

func newQueryTestClient(t *testing.T, caps imap.CapSet) *imapclient.Client {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser("user", "pass")
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		InsecureAuth: true,
		Caps:         caps,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(conn, nil)
	t.Cleanup(func() { c.Close() })
	if err := c.Login("user", "pass").Wait(); err != nil {
		t.Fatal(err)
	}

	big := strings.Repeat("padding line of a big attachment\r\n", 1100000/35)
	msgs := []struct {
		raw   string
		date  time.Time
		flags []imap.Flag
	}{
		{"From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: quarterly report\r\n" +
			"Date: Tue, 10 Nov 2026 09:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
			"Apress invoice attached. 會議 記錄\r\n",
			time.Date(2026, time.November, 16, 10, 0, 0, 0, time.UTC), nil},
		{"From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: lunch\r\nX-Spam: yes\r\n" +
			"Date: Sun, 01 Aug 2010 12:00:00 +0000\r\nContent-Type: text/plain\r\n\r\nSandwiches?\r\n",
			time.Date(2010, time.August, 1, 12, 0, 0, 0, time.UTC), []imap.Flag{imap.FlagSeen, imap.FlagImportant}},
		{"From: Carol <carol@example.com>\r\nTo: alice@example.com\r\nSubject: big\r\n" +
			"Date: Thu, 15 Oct 2026 08:00:00 +0000\r\nContent-Type: text/plain\r\n\r\n" + big,
			time.Date(2026, time.October, 15, 8, 0, 0, 0, time.UTC), []imap.Flag{imap.FlagSeen, imap.FlagFlagged}},
	}
	for _, m := range msgs {
		cmd := c.Append("INBOX", int64(len(m.raw)), &imap.AppendOptions{Flags: m.flags, Time: m.date})
		if _, err := cmd.Write([]byte(m.raw)); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}
