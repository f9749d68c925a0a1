package fs

import (
	"context"
	"errors"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/imapfs/imapfs/imapbackend"
)

// Watch makes the tree follow the server while ctx lasts: every interval
// each listed mailbox is checked (one STATUS each, a new listing only when
// its counts changed), and the mailboxes in idle are watched with IDLE,
// checked within moments of a change; while IDLE is live, and has shown
// that it reports changes as they happen, their listings are reused
// without asking STATUS. Expunged messages leave the kernel's caches; new
// ones show at the next listing.
func (f *FS) Watch(ctx context.Context, interval time.Duration, idle []string) {
	for _, mailbox := range idle {
		go func() {
			err := f.backend.Watch(ctx, mailbox, imapbackend.WatchEvents{
				Live: func(live bool) { f.setLive(mailbox, live) },
				// IDLE said something changed: no need to ask STATUS first.
				Changed: func() {
					reported := time.Now()
					f.changedLive(mailbox)
					old, s := f.refresh(ctx, mailbox, false)
					f.provePush(mailbox, reported, old, s)
				},
			})
			if errors.Is(err, imapbackend.ErrNoIdle) {
				f.logger.Printf("watch %q: %v; changes show within the poll interval", mailbox, err)
			}
		}()
	}
	if interval <= 0 {
		return
	}
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			f.forgetTree() // mailboxes created or deleted elsewhere
			f.mu.Lock()
			var listed []string
			for mailbox := range f.snaps {
				listed = append(listed, mailbox)
			}
			f.mu.Unlock()
			for _, mailbox := range listed {
				old, s := f.refresh(ctx, mailbox, true)
				f.doubtPush(mailbox, old, s)
			}
		}
	}()
}

// refresh checks one mailbox now, if it has been listed: with checkStatus
// one STATUS first, a new listing only if its counts changed. It returns
// the listing held before and the one held now (nil when not listed or
// the check failed).
func (f *FS) refresh(ctx context.Context, mailbox string, checkStatus bool) (old, s *imapbackend.Snapshot) {
	f.mu.Lock()
	old, listed := f.snaps[mailbox]
	delete(f.statuses, mailbox)
	delete(f.indexes, mailbox)
	f.mu.Unlock()
	if !listed {
		return nil, nil
	}
	s, err := f.reload(ctx, mailbox, old, checkStatus)
	if err == nil {
		return old, s
	}
	if ctx.Err() != nil {
		return old, nil
	}
	if f.goneFromServer(ctx, mailbox, err) {
		f.logger.Printf("check %q for changes: %v; it is no longer on the server (deleted elsewhere), so it leaves the tree and is checked no more", mailbox, err)
		f.forgetMailbox(mailbox)
		return old, nil
	}
	f.logger.Printf("check %q for changes: %v", mailbox, err)
	return old, nil
}

// goneFromServer reports whether a check of mailbox failed because the
// mailbox no longer exists: the server refused it and a fresh LIST lacks
// it. The LIST decides, since a refusal alone may be passing (a lock) and
// servers word "no such mailbox" differently ([NONEXISTENT] or plain NO).
func (f *FS) goneFromServer(ctx context.Context, mailbox string, err error) bool {
	var refused *imap.Error
	if !errors.As(err, &refused) {
		return false // the connection, not the mailbox
	}
	t, lerr := f.mailboxTree(ctx, 0)
	return lerr == nil && !t.has(mailbox)
}
