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
	delim rune // the hierarchy delimiter, for names made by mkdir and mv
}

// buildTree turns LIST's flat names into directories, splitting on each
// mailbox's own delimiter and escaping components that could not be
// directory entries.
func buildTree(list []imapbackend.Mailbox, taken time.Time) *mailboxTree {
	t := &mailboxTree{root: &mailboxDir{}, taken: taken}
	for i := range list {
		m := &list[i]
		if t.delim == 0 {
			t.delim = m.Delim
		}
		d := t.root
		for _, name := range m.Components() {
			if d == t.root && strings.EqualFold(name, "INBOX") {
				name = "INBOX" // RFC 3501: INBOX is case-insensitive
			}
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

// has reports whether the server listed a mailbox of that name.
func (t *mailboxTree) has(mailbox string) bool {
	var walk func(d *mailboxDir) bool
	walk = func(d *mailboxDir) bool {
		if d.mailbox != nil && d.mailbox.Name == mailbox {
			return true
		}
		for _, c := range d.children {
			if walk(c) {
				return true
			}
		}
		return false
	}
	return walk(t.root)
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

// serverName is the full mailbox name of the directory at path, also for
// an implied parent that LIST did not report.
func (t *mailboxTree) serverName(path string) (string, bool) {
	if d := t.find(path); d != nil && d.mailbox != nil {
		return d.mailbox.Name, true
	}
	if path == "" {
		return "", true
	}
	var names []string
	for _, escaped := range strings.Split(path, "/") {
		name, ok := imapbackend.UnescapeName(escaped)
		if !ok {
			return "", false
		}
		names = append(names, name)
	}
	return strings.Join(names, string(t.delim)), true
}

// childName is the full mailbox name for a new child called name (a
// directory entry, escaped) of the directory at path.
func (t *mailboxTree) childName(path, name string) (string, bool) {
	comp, ok := imapbackend.UnescapeName(name)
	if !ok || comp == "" || (t.delim != 0 && strings.ContainsRune(comp, t.delim)) {
		return "", false
	}
	parent, ok := t.serverName(path)
	if !ok {
		return "", false
	}
	if parent == "" {
		return comp, true
	}
	if t.delim == 0 {
		return "", false // a flat namespace has no children
	}
	return parent + string(t.delim) + comp, true
}
