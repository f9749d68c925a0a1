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
}

// TextSize is the exact size of BODY[TEXT].
func (s *Structure) TextSize() int64 {
	if n := s.Size - int64(len(s.Header)); n > 0 {
		return n
	}
	return 0
}

// Structure fetches BODYSTRUCTURE, ENVELOPE, RFC822.SIZE and
// BODY.PEEK[HEADER] of one message in one UID FETCH.
func (b *Backend) Structure(ctx context.Context, mailbox string, uidValidity uint32, uid imap.UID) (*Structure, error) {
	header := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
	var buf *fetchResult
	err := b.fetchOne(ctx, mailbox, uidValidity, uid, &imap.FetchOptions{
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		Envelope:      true,
		RFC822Size:    true,
		BodySection:   []*imap.FetchItemBodySection{header},
	}, &buf)
	if err != nil {
		return nil, err
	}
	s := &Structure{UID: uid, Body: buf.BodyStructure, Size: buf.RFC822Size, Header: buf.FindBodySection(header), Envelope: buf.Envelope}
	if s.Body != nil {
		s.Parts = LeafParts(s.Body)
	}
	return s, nil
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

// FetchParts fetches the raw bytes of several parts of one message in a
// single UID FETCH, keyed by section number, and, where the server has
// BINARY, the decoded sizes (BINARY.SIZE) of the parts in sized. A server
// may refuse BINARY.SIZE for a part it cannot decode (UNKNOWN-CTE); then
// the parts are fetched again without sizes.
func (b *Backend) FetchParts(ctx context.Context, mailbox string, uidValidity uint32, uid imap.UID, parts, sized []Part) (map[string][]byte, map[string]int64, error) {
	items := make([]*imap.FetchItemBodySection, len(parts))
	for i, p := range parts {
		items[i] = &imap.FetchItemBodySection{Part: p.Path, Peek: true}
	}
	options := &imap.FetchOptions{BodySection: items}
	if len(sized) > 0 && b.hasCap(imap.CapBinary) {
		for _, p := range sized {
			options.BinarySectionSize = append(options.BinarySectionSize, &imap.FetchItemBinarySectionSize{Part: p.Path})
		}
	}
	if len(items) == 0 && len(options.BinarySectionSize) == 0 {
		return map[string][]byte{}, map[string]int64{}, nil
	}
	var buf *fetchResult
	err := b.fetchOne(ctx, mailbox, uidValidity, uid, options, &buf)
	if err != nil && len(options.BinarySectionSize) > 0 && !errors.Is(err, ErrNoMessage) {
		options.BinarySectionSize = nil
		if len(items) == 0 {
			return map[string][]byte{}, map[string]int64{}, nil
		}
		err = b.fetchOne(ctx, mailbox, uidValidity, uid, options, &buf)
	}
	if err != nil {
		return nil, nil, err
	}
	raw := make(map[string][]byte, len(parts))
	for i, p := range parts {
		data := buf.FindBodySection(items[i])
		if data == nil {
			data = []byte{}
		}
		raw[p.Section] = data
	}
	sizes := make(map[string]int64)
	for _, p := range sized {
		if n, ok := buf.FindBinarySectionSize(p.Path); ok {
			sizes[p.Section] = int64(n)
		}
	}
	return raw, sizes, nil
}
