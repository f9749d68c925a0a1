package imapbackend

import (
	"reflect"
	"strings"
	"testing"
)

func TestEscapeName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"INBOX", "INBOX"},
		{"Sent Items", "Sent Items"},
		{"Entwürfe", "Entwürfe"},
		{"会議", "会議"},
		{"a/b", "a%2Fb"},
		{"50%", "50%25"},
		{"%2F", "%252F"},
		{"nul\x00byte", "nul%00byte"},
		{".", "%2E"},
		{"..", "%2E%2E"},
		{"...", "..."},
		{".hidden", ".hidden"},
		{"", "%"},
		{"%", "%25"},
		{"/", "%2F"},
		{"\xff\xfe", "\xff\xfe"},
	}
	for _, tt := range tests {
		got := EscapeName(tt.in)
		if got != tt.want {
			t.Errorf("EscapeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
		back, ok := UnescapeName(got)
		if !ok || back != tt.in {
			t.Errorf("UnescapeName(%q) = %q, %v, want %q, true", got, back, ok, tt.in)
		}
	}
}

func TestUnescapeName(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"INBOX", "INBOX", true},
		{"a%2Fb", "a/b", true},
		{"100%25", "100%", true},
		{"%00", "\x00", true},
		{"%", "", true},
		{"%2E", ".", true},
		{"%2E%2E", "..", true},
		{"...", "...", true},
		{"a/b", "", false},
		{"a%", "", false},
		{"%2", "", false},
		{"%zz", "", false},
		{"50%", "", false},
		{"%%", "", false},
		{"%41", "", false},   // never produced by EscapeName
		{"%2f", "", false},   // EscapeName writes upper-case hex
		{"a%2Eb", "", false}, // only a whole "." or ".." is escaped
		{"%2E%2E%2E", "", false},
		{".", "", false},
		{"..", "", false},
		{"", "", false},
		{"nul\x00", "", false},
	}
	for _, tt := range tests {
		got, ok := UnescapeName(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("UnescapeName(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSplitMailbox(t *testing.T) {
	tests := []struct {
		name  string
		delim rune
		want  []string
	}{
		{"INBOX", '/', []string{"INBOX"}},
		{"INBOX/Work/2024", '/', []string{"INBOX", "Work", "2024"}},
		{"INBOX.Work.2024", '.', []string{"INBOX", "Work", "2024"}},
		{"a/b.c", '.', []string{"a/b", "c"}},
		{"a/b.c", 0, []string{"a/b.c"}},
		{"a∕b∕c", '∕', []string{"a", "b", "c"}},
		{"a//b", '/', []string{"a", "", "b"}},
		{"", '/', []string{""}},
		{"", 0, []string{""}},
	}
	for _, tt := range tests {
		if got := SplitMailbox(tt.name, tt.delim); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitMailbox(%q, %q) = %q, want %q", tt.name, tt.delim, got, tt.want)
		}
	}
}

func FuzzEscapeName(f *testing.F) {
	for _, s := range []string{"", ".", "..", "...", "%", "%2E", "%25", "a/b", "\x00", "INBOX", "Entwürfe", "%2F%00/", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := EscapeName(s)
		if strings.ContainsAny(e, "/\x00") || e == "" || e == "." || e == ".." {
			t.Fatalf("EscapeName(%q) = %q is not a valid directory entry", s, e)
		}
		if back, ok := UnescapeName(e); !ok || back != s {
			t.Fatalf("UnescapeName(EscapeName(%q)) = %q, %v", s, back, ok)
		}
		// Read as a directory entry, s must map back to itself or be
		// rejected: one name per mailbox.
		if name, ok := UnescapeName(s); ok && EscapeName(name) != s {
			t.Fatalf("UnescapeName(%q) = %q, which escapes to %q", s, name, EscapeName(name))
		}
	})
}
