package imapbackend

import (
	"context"
	"fmt"

	"github.com/emersion/go-imap/v2"
)

// Mailbox is one mailbox as LIST reports it.
type Mailbox struct {
	Name     string // full name, UTF-8 (go-imap decodes modified UTF-7)
	Delim    rune   // hierarchy delimiter, 0 for a flat namespace
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
