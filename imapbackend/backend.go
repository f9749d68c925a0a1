package imapbackend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Config is what Open needs to reach the account.
type Config struct {
	Account  Account
	Password string
	// OAuth, when set, logs in with an OAuth 2 access token (OAUTHBEARER
	// or XOAUTH2, whichever the server offers) instead of Password.
	OAuth *TokenSource
	// ReadOnly selects mailboxes with EXAMINE.
	ReadOnly bool
	// Connections bounds how many connections are open at once (default 4).
	Connections int
	// Timeout bounds every operation, dial included (default 30 s).
	Timeout time.Duration
	// TLSConfig overrides the default TLS settings (tests, private CAs).
	TLSConfig *tls.Config
	// MaxLiteral bounds one literal the server sends (a section, a
	// string): a larger one fails that request's connection before a
	// byte of it is read (default DefaultMaxLiteral). The mount sets it
	// from the cache budget.
	MaxLiteral int64
	// Logger receives one line per IMAP operation when set (--debug).
	Logger *log.Logger

	counters *counters // set by Open: what the connections count
	// activity, when set, receives the time the server last sent bytes
	// of an answer.
	activity *atomic.Int64
	// refused, when set, receives the guard's error when it drops the
	// connection (guard.go).
	refused *atomic.Pointer[error]
	// unilateral receives what the server says unasked (Watch's IDLE).
	unilateral *imapclient.UnilateralDataHandler
}

// Backend serves the file system's requests from an IMAP account.
type Backend struct {
	cfg  Config
	pool *pool

	capsMu sync.Mutex
	caps   imap.CapSet

	counters counters
	backoff  backoff
}

// Open dials and logs in once, so that a wrong password or an unreachable
// server is reported before anything is mounted. That connection stays in
// the pool for the first requests.
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	if cfg.Connections <= 0 {
		cfg.Connections = 4
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	b := &Backend{cfg: cfg}
	b.cfg.counters = &b.counters
	cfg = b.cfg
	b.pool = newPool(cfg.Connections, func(ctx context.Context) (*conn, error) {
		ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		if err := b.backoff.wait(ctx); err != nil {
			return nil, err
		}
		b.logf("connect %s", cfg.Account)
		cfg := cfg
		cfg.activity = new(atomic.Int64)
		cfg.refused = new(atomic.Pointer[error])
		c, err := dial(ctx, cfg)
		b.backoff.note(err)
		if err != nil {
			return nil, err
		}
		b.capsMu.Lock()
		b.caps = c.Caps()
		b.capsMu.Unlock()
		return &conn{client: c, activity: cfg.activity, refused: cfg.refused}, nil
	})
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	c, err := b.pool.get(ctx, "")
	if err != nil {
		return nil, err
	}
	b.pool.put(c)
	return b, nil
}

// Spare readies, in the background, one more connection with mailbox
// selected when fewer than two are idle and the pool may open one: a large
// file's reader is about to use one, and its read-ahead runs two windows
// at once, the second of which should not spend a connect, a login and a
// SELECT (three round trips) on the reader's time. Failures are only
// logged: nobody waits for this.
func (b *Backend) Spare(mailbox string) {
	if !b.pool.takeSpareSlot(2) {
		return
	}
	go func() {
		defer b.pool.spareDone()
		c, err := b.pool.dial(context.Background()) // bounded by the timeout
		if err != nil {
			b.logf("spare connection for %q: %v", mailbox, err)
			b.pool.release()
			return
		}
		b.logf("select %q (spare connection)", mailbox)
		// A server that stalls must not keep the slot: closing the client
		// ends the SELECT.
		watchdog := time.AfterFunc(b.cfg.Timeout, func() { c.client.Close() })
		_, err = c.selectMailbox(mailbox, b.cfg.ReadOnly)
		watchdog.Stop()
		if err != nil {
			b.logf("spare connection for %q: %v", mailbox, err)
			b.pool.discard(c)
			return
		}
		b.pool.put(c)
	}()
}

// Close logs out of every idle connection, waiting for the server at most
// logoutWait (or the timeout, if shorter).
func (b *Backend) Close() { b.pool.close(min(b.cfg.Timeout, logoutWait)) }

// logoutWait bounds how long Close waits for a LOGOUT to be answered: it is
// a courtesy to the server, not worth holding up an unmount for.
const logoutWait = 2 * time.Second

func (b *Backend) logf(format string, args ...any) {
	if b.cfg.Logger != nil {
		b.cfg.Logger.Printf(format, args...)
	}
}

// do runs op on a connection that has mailbox selected ("" for none),
// bounded by the configured timeout. go-imap commands cannot be abandoned
// half-read, so when the deadline passes or the caller gives up, the
// connection is closed: that ends the command, and the connection is not
// reused. An operation that failed because the connection broke (the
// server dropped it while idle in the pool, say) is retried once on a
// fresh connection.
//
// With reselect, the mailbox is selected again even if the connection has
// it selected already, for a fresh view of its messages and UIDVALIDITY.
func (b *Backend) do(ctx context.Context, mailbox string, reselect bool, op func(c *conn) error) error {
	err := b.doOnce(ctx, mailbox, reselect, op)
	if errors.Is(err, errConnBroken) && ctx.Err() == nil {
		b.logf("connection lost, retrying once: %v", err)
		err = b.doOnce(ctx, mailbox, reselect, op)
	}
	return err
}

var errConnBroken = errors.New("connection to the IMAP server lost")

// ErrTimeout is returned (wrapped) when the server does not answer in time.
var ErrTimeout = errors.New("IMAP server did not answer in time")

func (b *Backend) doOnce(ctx context.Context, mailbox string, reselect bool, op func(c *conn) error) error {
	if err := checkName(mailbox); err != nil {
		return err
	}
	b.counters.operations.Add(1)
	getCtx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	c, err := b.pool.get(getCtx, mailbox)
	cancel()
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		if mailbox != "" && (reselect || c.selected != mailbox) {
			b.logf("select %q", mailbox)
			if _, err := c.selectMailbox(mailbox, b.cfg.ReadOnly); err != nil {
				done <- err
				return
			}
		}
		done <- op(c)
	}()
	// The timeout counts time without a byte from the server, not the
	// whole operation: a 100 MB part on a slow link may take minutes, a
	// stalled server is found out in one timeout.
	start := time.Now()
	tick := time.NewTicker(max(min(b.cfg.Timeout/4, time.Second), 10*time.Millisecond))
	defer tick.Stop()
	abort := func(why error) error {
		c.client.Close() // unblocks op, which drains and returns
		<-done
		b.pool.discard(c)
		return why
	}
	for waiting := true; waiting; {
		select {
		case err = <-done:
			waiting = false
		case <-ctx.Done():
			return abort(ctx.Err())
		case <-tick.C:
			last := start
			if t := c.lastActivity(); t.After(last) {
				last = t
			}
			if time.Since(last) > b.cfg.Timeout {
				return abort(fmt.Errorf("%w (nothing for %v)", ErrTimeout, b.cfg.Timeout))
			}
		}
	}
	if err != nil && (c.broken() || connLost(c, err)) {
		b.pool.discard(c)
		var refused *imap.Error
		if errors.As(err, &refused) {
			// The server answered NO (an APPEND refused before its
			// literal, which makes go-imap drop the connection): that
			// answer is the result, not a lost connection to retry.
			return err
		}
		if c.refused != nil && c.refused.Load() != nil {
			// The server broke a bound: asking again would get the same
			// answer, so no retry.
			return fmt.Errorf("%w (%v)", *c.refused.Load(), err)
		}
		return fmt.Errorf("%w: %v", errConnBroken, err)
	}
	b.pool.put(c)
	return err
}

// hasCap reports whether the server (as the last connection saw it)
// advertises c.
func (b *Backend) hasCap(c imap.Cap) bool {
	b.capsMu.Lock()
	defer b.capsMu.Unlock()
	return b.caps.Has(c)
}

// connLost reports whether err, from a command on c, means the connection
// is gone even though c.broken() may not say so yet: go-imap closes the
// socket and fails the pending commands before it closes Closed(), and a
// command written just after the socket was closed fails with the write
// error alone.
func connLost(c *conn, err error) bool {
	if c.client.State() == imap.ConnStateLogout {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// backoff spaces out dials while the server is unreachable: after a failed
// dial the next waits 200 ms, then twice as long each time, up to 10 s,
// within the caller's deadline. A successful dial resets it.
type backoff struct {
	mu    sync.Mutex
	next  time.Time
	delay time.Duration
	last  error
}

func (b *backoff) wait(ctx context.Context) error {
	b.mu.Lock()
	until, last := b.next, b.last
	b.mu.Unlock()
	d := time.Until(until)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("server unreachable (%v); not retried yet: %w", last, ctx.Err())
	}
}

func (b *backoff) note(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil || errors.Is(err, ErrAuth) {
		b.delay, b.next, b.last = 0, time.Time{}, nil
		return
	}
	b.delay = min(max(2*b.delay, 200*time.Millisecond), 10*time.Second)
	b.next, b.last = time.Now().Add(b.delay), err
}
