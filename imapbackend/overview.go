package imapbackend

import (
	"context"
	"fmt"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Overview is what a mail reader's index line shows of one message.
type Overview struct {
	MessageInfo
	Envelope *imap.Envelope
}

// Overviews fetches the envelope, flags, date and size of every message of
// a mailbox in one UID FETCH 1:*, for the folder's .index.
func (b *Backend) Overviews(ctx context.Context, mailbox string) (uint32, []Overview, error) {
	var (
		uidValidity uint32
		out         []Overview
	)
	err := b.do(ctx, mailbox, true, func(c *conn) error {
		uidValidity, out = c.uidValidity, out[:0]
		if c.client.Mailbox() != nil && c.client.Mailbox().NumMessages == 0 {
			return nil
		}
		b.logf("uid fetch %q 1:* (envelope flags internaldate rfc822.size)", mailbox)
		cmd := c.client.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
			UID: true, Flags: true, InternalDate: true, RFC822Size: true, Envelope: true,
		})
		defer cmd.Close()
		for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
			buf, err := collect(msg)
			if err != nil {
				return fmt.Errorf("fetch envelopes of %q: %w", mailbox, err)
			}
			if buf.UID == 0 || buf.Envelope == nil {
				continue
			}
			out = append(out, Overview{
				MessageInfo: MessageInfo{UID: buf.UID, InternalDate: buf.InternalDate, Size: buf.RFC822Size, Flags: buf.Flags},
				Envelope:    buf.Envelope,
			})
		}
		if err := cmd.Close(); err != nil {
			return fmt.Errorf("fetch envelopes of %q: %w", mailbox, err)
		}
		return nil
	})
	return uidValidity, out, err
}

// Status is what STATUS tells of a mailbox without selecting it.
type Status struct {
	UIDValidity uint32
	UIDNext     imap.UID
	Messages    uint32
	Unseen      uint32
	Taken       time.Time
}

// Status asks STATUS (MESSAGES UNSEEN UIDNEXT UIDVALIDITY) of a mailbox.
func (b *Backend) Status(ctx context.Context, mailbox string) (*Status, error) {
	var st Status
	if err := checkName(mailbox); err != nil {
		return nil, err
	}
	err := b.do(ctx, "", false, func(c *conn) error {
		if c.selected == mailbox {
			// Dovecot answers STATUS of a session's selected mailbox from
			// that session's view, which can still be a mailbox deleted and
			// created again elsewhere: leave it first.
			if err := c.leave(); err != nil {
				return err
			}
		}
		b.logf("status %q", mailbox)
		data, err := c.client.Status(mailbox, &imap.StatusOptions{
			NumMessages: true, NumUnseen: true, UIDNext: true, UIDValidity: true,
		}).Wait()
		if err != nil {
			return fmt.Errorf("status %q: %w", mailbox, err)
		}
		st = Status{UIDValidity: data.UIDValidity, UIDNext: data.UIDNext, Taken: time.Now()}
		if data.NumMessages != nil {
			st.Messages = *data.NumMessages
		}
		if data.NumUnseen != nil {
			st.Unseen = *data.NumUnseen
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &st, nil
}
