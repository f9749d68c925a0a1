package fs

import (
	"sort"
	"strings"
	"time"

	"github.com/imapfs/imapfs/imapbackend"
)

// mailboxDir is one directory of the mailbox hierarchy: a mailbox, or a
// parent that LIST implies but does not report (Archive for Archive/2025
// on servers that allow that).
type mailboxDir struct {
	mailbox  *imapbackend.Mailbox // nil for an implied parent
	children map[string]*mailboxDir
	names    []string // children in order, so readdir is deterministic
}

// selectable reports whether the directory has messages to list.
func (d *mailboxDir) selectable() bool { return d.mailbox != nil && !d.mailbox.NoSelect }

// mailboxTree is the whole hierarchy as one LIST saw it.
type mailboxTree struct {
	root  *mailboxDir
	taken time.Time
}

// buildTree turns LIST's flat names into directories, splitting on each
// mailbox's own delimiter and escaping components that could not be
// directory entries.
func buildTree(list []imapbackend.Mailbox, taken time.Time) *mailboxTree {
	t := &mailboxTree{root: &mailboxDir{}, taken: taken}
	for i := range list {
		m := &list[i]
		d := t.root
		for _, comp := range imapbackend.SplitMailbox(m.Name, m.Delim) {
			if d == t.root && strings.EqualFold(comp, "INBOX") {
				comp = "INBOX" // RFC 3501: INBOX is case-insensitive
			}
			name := imapbackend.EscapeName(comp)
			child := d.children[name]
			if child == nil {
				child = &mailboxDir{}
				if d.children == nil {
					d.children = make(map[string]*mailboxDir)
				}
				d.children[name] = child
				d.names = append(d.names, name)
			}
			d = child
		}
		d.mailbox = m
	}
	t.root.sortAll()
	return t
}

func (d *mailboxDir) sortAll() {
	sort.Strings(d.names)
	for _, c := range d.children {
		c.sortAll()
	}
}

// find returns the directory at path, escaped names joined by "/" ("" is
// the root), or nil.
func (t *mailboxTree) find(path string) *mailboxDir {
	d := t.root
	if path == "" {
		return d
	}
	for _, name := range strings.Split(path, "/") {
		d = d.children[name]
		if d == nil {
			return nil
		}
	}
	return d
}
