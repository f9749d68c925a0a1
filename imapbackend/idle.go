package imapbackend

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// ErrNoIdle is returned by Watch when the server has no IDLE: polling is
// all there is then.
var ErrNoIdle = errors.New("server has no IDLE")

// idleRestart ends IDLE before servers drop it (RFC 2177: 29 minutes).
const idleRestart = 25 * time.Minute

// minIdleCycle bounds how often IDLE is ended to report a change: a server
// that says "* n EXISTS" every 10 ms must not make imapfs send an IDLE and
// a DONE, and reload the folder, a hundred times a second. The first
// change after a quiet spell is still reported at once.
const minIdleCycle = time.Second

// WatchEvents are what Watch tells its caller.
type WatchEvents struct {
	// Live is called with true once the server has accepted IDLE, from
	// which moment every change is reported, and with false when the
	// watching connection is lost, until it is live again.
	Live func(live bool)
	// Changed is called whenever the server reports new, expunged or
	// changed messages.
	Changed func()
}

// Watch keeps a connection of its own, outside the pool, in IDLE on
// mailbox, and tells ev what happens there, until ctx ends. A lost
// connection is redialled with backoff (1 s, doubling up to a minute). It
// returns ErrNoIdle at once if the server cannot IDLE.
func (b *Backend) Watch(ctx context.Context, mailbox string, ev WatchEvents) error {
	if err := checkName(mailbox); err != nil {
		return err
	}
	if ev.Live == nil {
		ev.Live = func(bool) {}
	}
	if ev.Changed == nil {
		ev.Changed = func() {}
	}
	backoff := time.Second
	for {
		start := time.Now()
		err := b.watchOnce(ctx, mailbox, ev)
		ev.Live(false)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrNoIdle) {
			return err
		}
		if time.Since(start) > time.Minute {
			backoff = time.Second // it had worked for a while
		}
		b.logf("watch %q: %v; again in %v", mailbox, err, backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil
		}
		backoff = min(2*backoff, time.Minute)
	}
}

func (b *Backend) watchOnce(ctx context.Context, mailbox string, ev WatchEvents) error {
	poke := make(chan struct{}, 1)
	notify := func() {
		select {
		case poke <- struct{}{}:
		default:
		}
	}
	cfg := b.cfg
	cfg.unilateral = &imapclient.UnilateralDataHandler{
		Expunge: func(uint32) { notify() },
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				notify()
			}
		},
		Fetch: func(*imapclient.FetchMessageData) { notify() },
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	c, err := dial(dctx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer c.Close()
	if !c.Caps().Has(imap.CapIdle) && !c.Caps().Has(imap.CapIMAP4rev2) {
		return ErrNoIdle
	}
	// EXAMINE: watching must not change \Recent or anything else.
	if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return fmt.Errorf("examine %q: %w", mailbox, err)
	}
	b.logf("watching %q with IDLE", mailbox)
	for {
		idle, err := c.Idle()
		if err != nil {
			return fmt.Errorf("idle: %w", err)
		}
		// Between two IDLEs the mailbox stays selected, so the server
		// still reports what happened meanwhile: live from the first on.
		ev.Live(true)
		started := time.Now()
		var reported bool
		select {
		case <-poke:
			reported = true
		case <-ctx.Done():
		case <-time.After(idleRestart):
		case <-c.Closed():
		}
		if wait := minIdleCycle - time.Since(started); reported && wait > 0 {
			// Changes that come meanwhile are reported together.
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			case <-c.Closed():
			}
		}
		// End IDLE and wait for its answer: a command is always drained.
		// Errors show as a closed connection, checked below.
		idle.Close()
		idle.Wait()
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-c.Closed():
			return errConnBroken
		default:
		}
		if reported {
			ev.Changed()
		}
	}
}
