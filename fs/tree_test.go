package fs

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/imapfs/imapfs/imapbackend"
)

func TestBuildTreeFollowsEachDelimiterAndEscapes(t *testing.T) {
	list := []imapbackend.Mailbox{
		{Name: "Inbox", Delim: '.'},
		{Name: "INBOX.Sent", Delim: '.'},
		{Name: "Lists.go/nuts", Delim: '.'}, // "/" inside a component
		{Name: "Archive/2025/Q1", Delim: '/'},
		{Name: "Archive", Delim: '/', Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, NoSelect: true},
		{Name: "100%", Delim: 0},
	}
	tree := buildTree(list, time.Now())
	if got := strings.Join(tree.root.names, " "); got != "100%25 Archive INBOX Lists" {
		t.Errorf("top level = %q", got)
	}
	tests := []struct {
		path       string
		mailbox    string // "" for an implied parent
		selectable bool
	}{
		{"INBOX", "Inbox", true},
		{"INBOX/Sent", "INBOX.Sent", true},
		{"Lists", "", false},
		{"Lists/go%2Fnuts", "Lists.go/nuts", true},
		{"Archive", "Archive", false},
		{"Archive/2025", "", false},
		{"Archive/2025/Q1", "Archive/2025/Q1", true},
		{"100%25", "100%", true},
	}
	for _, tt := range tests {
		d := tree.find(tt.path)
		if d == nil {
			t.Errorf("find(%q) = nil", tt.path)
			continue
		}
		name := ""
		if d.mailbox != nil {
			name = d.mailbox.Name
		}
		if name != tt.mailbox || d.selectable() != tt.selectable {
			t.Errorf("find(%q) = mailbox %q selectable %v, want %q %v", tt.path, name, d.selectable(), tt.mailbox, tt.selectable)
		}
	}
	if tree.find("Lists/go") != nil || tree.find("nope") != nil {
		t.Error("find returned a directory that does not exist")
	}
}

func TestParseUIDAcceptsOnlyCanonicalNames(t *testing.T) {
	for name, want := range map[string]bool{"1": true, "4711": true, "4294967295": true,
		"0": false, "007": false, "4294967296": false, "-1": false, "1a": false, "": false, "HEADER": false} {
		if _, ok := parseUID(name); ok != want {
			t.Errorf("parseUID(%q) ok = %v, want %v", name, ok, want)
		}
	}
}
