package imapbackend

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// FetchWindowTo fetches at most size bytes of a section from offset, in
// one UID FETCH of BODY.PEEK[section]<offset.size>: raw bytes, for
// sections named as in FetchSection. (Never BINARY windows: the server's
// decoding of a broken part may differ from imapfs's, and a file must
// read the same however it is read.) It hands the bytes to sink as they come off the
// connection, n of them (never more than size; fewer at the end of the
// section), so that a reader can use the first before the last have
// arrived. sink runs on the connection's goroutine: it must only read
// and keep, never wait on anything else. It is not called for a message
// whose section is NIL or empty past its end.
//
// A connection that breaks before sink is called is retried once, as
// every operation is; once sink has had bytes, the error is returned
// instead, so that the caller asks again for what it still lacks rather
// than for the whole window.
func (b *Backend) FetchWindowTo(ctx context.Context, mailbox string, uidValidity uint32, uid imap.UID, section string, path []int, offset, size int64, sink func(r io.Reader, n int64) error) error {
	if offset < 0 || size <= 0 {
		return fmt.Errorf("fetch window of message %d of %q: bad range %d+%d", uid, mailbox, offset, size)
	}
	item := sectionItem(section, path)
	item.Partial = &imap.SectionPartial{Offset: offset, Size: size}
	options := &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{item}}
	sunk := false
	op := func(c *conn) error {
		if uidValidity != 0 && c.uidValidity != uidValidity {
			return &UIDValidityError{Mailbox: mailbox, Old: uidValidity, New: c.uidValidity}
		}
		b.logf("uid fetch %q %d window %d+%d", mailbox, uid, offset, size)
		found := false
		cmd := c.client.Fetch(imap.UIDSetNum(uid), options)
		var sinkErr error
		for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
			for item := msg.Next(); item != nil; item = msg.Next() {
				var lit imap.LiteralReader
				switch item := item.(type) {
				case imapclient.FetchItemDataBodySection:
					lit, found = item.Literal, true
				default:
					continue
				}
				if lit == nil || sinkErr != nil {
					continue
				}
				if n := lit.Size(); n > size {
					sinkErr = fmt.Errorf("%w (%d bytes for a window of %d)", errLongWindow, n, size)
				} else if n > 0 {
					sunk = true
					sinkErr = sink(lit, n)
					if sinkErr == nil {
						// Up to the end, which hands the connection back
						// to go-imap's reader.
						_, sinkErr = io.Copy(io.Discard, lit)
					}
				}
			}
		}
		// Close drains what is left (also what sink did not read), so the
		// connection stays usable.
		if err := cmd.Close(); err != nil {
			return fmt.Errorf("fetch window %d+%d of message %d of %q: %w", offset, size, uid, mailbox, err)
		}
		if sinkErr != nil {
			return fmt.Errorf("fetch window %d+%d of message %d of %q: %w", offset, size, uid, mailbox, sinkErr)
		}
		if !found {
			return fmt.Errorf("fetch window of message %d of %q: %w", uid, mailbox, ErrNoMessage)
		}
		return nil
	}
	err := b.doOnce(ctx, mailbox, false, op)
	if errors.Is(err, errConnBroken) && !sunk && ctx.Err() == nil {
		b.logf("connection lost, retrying once: %v", err)
		err = b.doOnce(ctx, mailbox, false, op)
	}
	return err
}

var errLongWindow = errors.New("the server sent more than was asked")
