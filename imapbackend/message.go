package imapbackend

import (
	"context"
	"errors"
	"fmt"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// ErrNoMessage is returned (wrapped) when the message is no longer on the
// server: another client expunged it.
var ErrNoMessage = errors.New("no such message")

// UIDValidityError reports that a mailbox's UIDVALIDITY is not the one the
// caller's UIDs belong to: the mailbox was recreated and every UID of the
// old one is meaningless now.
type UIDValidityError struct {
	Mailbox  string
	Old, New uint32
}

func (e *UIDValidityError) Error() string {
	return fmt.Sprintf("mailbox %q changed UIDVALIDITY from %d to %d", e.Mailbox, e.Old, e.New)
}

// Structure is a message's MIME structure and its raw header: everything
// its directory listing and the exact sizes of HEADER and TEXT need.
type Structure struct {
	UID      imap.UID
	Body     imap.BodyStructure
	Parts    []Part
	Header   []byte // BODY[HEADER], exactly as the server has it
	Size     int64  // RFC822.SIZE; TEXT is Size - len(Header)
	Envelope *imap.Envelope
	// Parsed is set when Body was worked out from the message's bytes
	// (ParseStructure), not given by the server.
	Parsed bool
}

// structureItems are what a Structure is made of: BODYSTRUCTURE,
// ENVELOPE, RFC822.SIZE and BODY.PEEK[HEADER], in one FETCH.
func structureItems() (*imap.FetchOptions, *imap.FetchItemBodySection) {
	header := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
	return &imap.FetchOptions{
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		Envelope:      true,
		RFC822Size:    true,
		BodySection:   []*imap.FetchItemBodySection{header},
	}, header
}

// structureOf reads a Structure from the answer to structureItems, or nil
// for an answer without BODYSTRUCTURE (an unsolicited FETCH, a flag
// change).
func structureOf(buf *fetchResult, header *imap.FetchItemBodySection) *Structure {
	if buf.BodyStructure == nil {
		return nil
	}
	return &Structure{UID: buf.UID, Body: buf.BodyStructure, Parts: LeafParts(buf.BodyStructure),
		Size: buf.RFC822Size, Header: buf.FindBodySection(header), Envelope: buf.Envelope}
}

// TextSize is the exact size of BODY[TEXT].
func (s *Structure) TextSize() int64 {
	if n := s.Size - int64(len(s.Header)); n > 0 {
		return n
	}
	return 0
}

// Section names what FetchSection fetches: "HEADER", "TEXT", "" (the whole
// message) or a part number such as "1.2".
func sectionItem(section string, path []int) *imap.FetchItemBodySection {
	item := &imap.FetchItemBodySection{Peek: true}
	switch section {
	case "HEADER":
		item.Specifier = imap.PartSpecifierHeader
	case "TEXT":
		item.Specifier = imap.PartSpecifierText
	case "":
	default:
		item.Part = path
	}
	return item
}

// FetchSection fetches the raw bytes of BODY.PEEK[section] of one message.
// For a part, path holds the section's numbers ("1.2" is []int{1, 2}).
func (b *Backend) FetchSection(ctx context.Context, mailbox string, uidValidity uint32, uid imap.UID, section string, path []int) ([]byte, error) {
	item := sectionItem(section, path)
	var buf *fetchResult
	if err := b.fetchOne(ctx, mailbox, uidValidity, uid, &imap.FetchOptions{
		BodySection: []*imap.FetchItemBodySection{item},
	}, &buf); err != nil {
		return nil, err
	}
	data := buf.FindBodySection(item)
	if data == nil {
		data = []byte{} // NIL or an empty section: no content, not an error
	}
	return data, nil
}

type fetchResult = imapclient.FetchMessageBuffer

// fetchOne runs UID FETCH for one message, after checking that the
// mailbox still has the UIDVALIDITY the caller's UID belongs to.
func (b *Backend) fetchOne(ctx context.Context, mailbox string, uidValidity uint32, uid imap.UID, options *imap.FetchOptions, out **fetchResult) error {
	return b.do(ctx, mailbox, false, func(c *conn) error {
		if uidValidity != 0 && c.uidValidity != uidValidity {
			return &UIDValidityError{Mailbox: mailbox, Old: uidValidity, New: c.uidValidity}
		}
		b.logf("uid fetch %q %d", mailbox, uid)
		msgs, err := c.client.Fetch(imap.UIDSetNum(uid), options).Collect()
		if err != nil {
			return fmt.Errorf("fetch message %d of %q: %w", uid, mailbox, err)
		}
		for _, m := range msgs {
			if m.UID == uid {
				*out = m
				return nil
			}
		}
		return fmt.Errorf("fetch message %d of %q: %w", uid, mailbox, ErrNoMessage)
	})
}
