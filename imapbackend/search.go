package imapbackend

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/emersion/go-imap/v2"
)

// SearchError reports that the server refused a SEARCH command itself (a
// tagged NO or BAD: a key it does not support, a charset it cannot
// search), as opposed to failing to select the mailbox or losing the
// connection. The query, not the server, is at fault: callers show it as
// an invalid argument.
type SearchError struct {
	Mailbox string
	Err     error
}

func (e *SearchError) Error() string {
	return fmt.Sprintf("server refused the search in %q: %v", e.Mailbox, e.Err)
}

func (e *SearchError) Unwrap() error { return e.Err }

// Search runs one UID SEARCH with criteria in mailbox and returns the
// mailbox's UIDVALIDITY (the one the UIDs belong to) and the matching UIDs
// in ascending order. It costs one SELECT (EXAMINE when read-only) and
// one UID SEARCH (RETURN (ALL) where the server has ESEARCH, so that
// 10,000 consecutive UIDs come back as "1:10000"), and never fetches.
// The mailbox is selected afresh even on a connection that has it
// selected: Dovecot searches the view of its last sync, which misses mail
// delivered since the connection's last command.
//
// criteria come from ParseQuery or other code, never from a raw string:
// go-imap writes every string in them quoted or as a literal, so nothing
// in them can end the command or start another one.
func (b *Backend) Search(ctx context.Context, mailbox string, criteria *imap.SearchCriteria) (uint32, []imap.UID, error) {
	var (
		uidValidity uint32
		uids        []imap.UID
	)
	if criteria == nil {
		criteria = &imap.SearchCriteria{} // every message; go-imap cannot write nil
	}
	err := b.do(ctx, mailbox, true, func(c *conn) error {
		uidValidity, uids = c.uidValidity, nil
		var opts *imap.SearchOptions
		if c.client.Caps().Has(imap.CapESearch) {
			opts = &imap.SearchOptions{ReturnAll: true}
		}
		b.logf("uid search %q", mailbox)
		data, err := c.client.UIDSearch(criteria, opts).Wait()
		if err != nil {
			if c.broken() {
				return err // the connection broke: do retries once
			}
			var imapErr *imap.Error
			if errors.As(err, &imapErr) {
				return &SearchError{Mailbox: mailbox, Err: err}
			}
			return fmt.Errorf("uid search %q: %w", mailbox, err)
		}
		limit := int64(MaxSearchUIDs)
		if mbox := c.client.Mailbox(); mbox != nil {
			limit = min(limit, int64(mbox.NumMessages)+searchSlack)
		}
		uids, err = searchUIDs(data, limit)
		if err != nil {
			return fmt.Errorf("uid search %q: %w", mailbox, err)
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	sort.Slice(uids, func(i, j int) bool { return uids[i] < uids[j] })
	return uidValidity, uids, nil
}

// MaxSearchUIDs bounds the UIDs one search returns. A search never matches
// more messages than the mailbox holds (as EXISTS last said, plus
// searchSlack for deliveries racing the answer), and never more than
// this: an ESEARCH answer "ALL 1:300000000" is 50 bytes, and expanded
// 1.2 GB.
const (
	MaxSearchUIDs = 10_000_000
	searchSlack   = 1024
)

// searchUIDs expands a search answer's UID set, refusing, before
// expanding anything, a set of more than limit UIDs or one with "*".
func searchUIDs(data *imap.SearchData, limit int64) ([]imap.UID, error) {
	set, _ := data.All.(imap.UIDSet)
	var n int64
	for _, r := range set {
		if r.Start == 0 || r.Stop == 0 {
			return nil, fmt.Errorf("%w: a search answer with '*'", ErrHostileResponse)
		}
		n += int64(max(r.Start, r.Stop)-min(r.Start, r.Stop)) + 1
		if n > limit {
			return nil, fmt.Errorf("%w: a search answer of more than %d UIDs", ErrHostileResponse, limit)
		}
	}
	uids := make([]imap.UID, 0, n)
	for _, r := range set {
		for u := min(r.Start, r.Stop); ; u++ {
			uids = append(uids, u)
			if u == max(r.Start, r.Stop) {
				break
			}
		}
	}
	return uids, nil
}
