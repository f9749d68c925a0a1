package imapbackend

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in   string
		want Account
	}{
		{"imaps://me%40example.org@imap.example.org", Account{ImplicitTLS, "me@example.org", "imap.example.org", 993}},
		{"imaps://bob@mail.example.org:1993", Account{ImplicitTLS, "bob", "mail.example.org", 1993}},
		{"imap://bob@mail.example.org", Account{StartTLS, "bob", "mail.example.org", 143}},
		{"imap+insecure://user@127.0.0.1:10143", Account{Insecure, "user", "127.0.0.1", 10143}},
		{"IMAPS://bob@[::1]:993/", Account{ImplicitTLS, "bob", "::1", 993}},
	}
	for _, tt := range tests {
		got, err := ParseURL(tt.in)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseURL(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseURLErrors(t *testing.T) {
	tests := []struct{ in, wantErr string }{
		{"http://bob@example.org", `unknown scheme "http"`},
		{"example.org", "no scheme"},
		{"imaps://example.org", "no user name"},
		{"imaps://bob@", "no host"},
		{"imaps://bob@example.org:99999", "bad port"},
		{"imaps://bob@example.org/INBOX", "unexpected path"},
		{"imaps://bob:hunter2@example.org", "password does not belong"},
	}
	for _, tt := range tests {
		_, err := ParseURL(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseURL(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseURL(%q) error leaks the password: %v", tt.in, err)
		}
	}
}

func TestAccountStringHasNoPassword(t *testing.T) {
	a := Account{ImplicitTLS, "me@example.org", "imap.example.org", 993}
	if got, want := a.String(), "imaps://me%40example.org@imap.example.org:993"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
