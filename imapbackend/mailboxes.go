package imapbackend

import (
	"context"
	"errors"
	"fmt"

	"github.com/emersion/go-imap/v2"
)

// Mailbox is one mailbox as LIST reports it.
type Mailbox struct {
	// Name is the full name, UTF-8 (go-imap decodes modified UTF-7); for
	// a name that is not valid modified UTF-7, an opaque placeholder
	// (see Undecodable) that every command refuses.
	Name     string
	Delim    rune // hierarchy delimiter, 0 for a flat namespace
	Attrs    []imap.MailboxAttr
	NoSelect bool // \Noselect or \NonExistent: a directory without messages
}

// Mailboxes lists every mailbox of the account with one LIST "" "*".
func (b *Backend) Mailboxes(ctx context.Context) ([]Mailbox, error) {
	var out []Mailbox
	err := b.do(ctx, "", false, func(c *conn) error {
		b.logf("list")
		list, err := c.client.List("", "*", nil).Collect()
		if err != nil {
			return fmt.Errorf("list mailboxes: %w", err)
		}
		out = make([]Mailbox, 0, len(list))
		for _, l := range list {
			m := Mailbox{Name: l.Mailbox, Delim: l.Delim, Attrs: l.Attrs}
			for _, a := range l.Attrs {
				if a == imap.MailboxAttrNoSelect || a == imap.MailboxAttrNonExistent {
					m.NoSelect = true
				}
			}
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// Undecodable reports whether the server's name for m is not valid
// modified UTF-7 (a control character, raw 8-bit, "Q&A"): it is listed,
// escaped, but imapfs cannot name it back to the server (go-imap would
// encode another name), so it cannot be opened.
func (m *Mailbox) Undecodable() bool {
	_, ok := undecodableName(m.Name)
	return ok
}

// Components are m's directory names from the top: its name split by the
// hierarchy delimiter, each escaped (EscapeName; EscapeRawName for an
// undecodable name's bytes).
func (m *Mailbox) Components() []string {
	raw, ok := undecodableName(m.Name)
	if !ok {
		comps := SplitMailbox(m.Name, m.Delim)
		for i, c := range comps {
			comps[i] = EscapeName(c)
		}
		return comps
	}
	comps := SplitMailbox(string(raw), m.Delim)
	for i, c := range comps {
		comps[i] = EscapeRawName(c)
	}
	return comps
}

// ErrUndecodableName is returned (wrapped) for a command on a mailbox
// whose name is not valid modified UTF-7.
var ErrUndecodableName = errors.New("the server's name for this mailbox is not valid modified UTF-7; imapfs cannot open it")

// checkName refuses a mailbox name imapfs cannot send back to the server.
func checkName(name string) error {
	if raw, ok := undecodableName(name); ok {
		return fmt.Errorf("mailbox %q: %w", raw, ErrUndecodableName)
	}
	return nil
}
