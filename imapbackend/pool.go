package imapbackend

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// conn is one logged-in IMAP connection and the mailbox it has selected.
// The selected mailbox is per-connection state on the server, so it lives
// here, and only the goroutine that holds the conn may change it.
type conn struct {
	client      *imapclient.Client
	selected    string // "" when nothing is selected
	uidValidity uint32
	uidNext     imap.UID
	activity    *atomic.Int64          // when the server last sent an answer's bytes (Unix ns)
	refused     *atomic.Pointer[error] // why the guard dropped the connection
}

// lastActivity is when the server last sent anything on this connection.
func (c *conn) lastActivity() time.Time {
	if c.activity == nil {
		return time.Time{}
	}
	return time.Unix(0, c.activity.Load())
}

func (c *conn) broken() bool {
	select {
	case <-c.client.Closed():
		return true
	default:
		return false
	}
}

// pool hands out connections, at most size at once, dialling lazily and
// preferring an idle connection that already has the wanted mailbox
// selected (a SELECT is a round trip, and on big mailboxes a slow one).
type pool struct {
	dial  func(ctx context.Context) (*conn, error)
	slots chan struct{}

	mu      sync.Mutex
	idle    []*conn
	sparing int // spare connections being readied (takeSpareSlot)
	closed  bool
}

func newPool(size int, dial func(ctx context.Context) (*conn, error)) *pool {
	return &pool{dial: dial, slots: make(chan struct{}, size)}
}

var errClosed = errors.New("imapfs is shutting down")

func (p *pool) get(ctx context.Context, mailbox string) (*conn, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a free IMAP connection: %w", ctx.Err())
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.slots
		return nil, errClosed
	}
	// The connection used last comes first: the server may still hold
	// what it worked out for that command (Dovecot keeps the part it
	// decoded for BINARY, which a window of the same part reuses).
	pick := -1
	for i := len(p.idle) - 1; i >= 0; i-- {
		if p.idle[i].selected == mailbox {
			pick = i
			break
		}
	}
	if pick < 0 && len(p.idle) > 0 {
		pick = len(p.idle) - 1
	}
	var c *conn
	if pick >= 0 {
		c = p.idle[pick]
		p.idle = append(p.idle[:pick], p.idle[pick+1:]...)
	}
	p.mu.Unlock()
	if c != nil && !c.broken() {
		return c, nil
	}
	c, err := p.dial(ctx)
	if err != nil {
		<-p.slots
		return nil, err
	}
	return c, nil
}

// takeSpareSlot takes, without waiting, the slot to ready one more
// connection with, when fewer than idle connections are idle or being
// readied and the pool is not full; ok is false when none is to be. The
// caller hands the connection to put, or gives the slot back with
// release, and then calls spareDone.
//
// The connections open are the idle ones and one at most per slot taken
// (in use, or being dialled): a spare is dialled only while those,
// its own slot included, stay within the pool's size.
func (p *pool) takeSpareSlot(idle int) (ok bool) {
	select {
	case p.slots <- struct{}{}:
	default:
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle)+p.sparing >= idle || len(p.idle)+len(p.slots) > cap(p.slots) {
		<-p.slots
		return false
	}
	p.sparing++
	return true
}

func (p *pool) spareDone() {
	p.mu.Lock()
	p.sparing--
	p.mu.Unlock()
}

// release gives back a slot taken by takeSpareSlot whose dial failed.
func (p *pool) release() { <-p.slots }

// put returns a connection. A connection that broke is closed and dropped;
// the next get dials a new one.
func (p *pool) put(c *conn) {
	p.mu.Lock()
	if c.broken() || p.closed {
		p.mu.Unlock()
		c.client.Close()
	} else {
		p.idle = append(p.idle, c)
		p.mu.Unlock()
	}
	<-p.slots
}

// discard closes a connection whose state is unknown (a command was cut
// short by a timeout), so that nothing half-read is reused.
func (p *pool) discard(c *conn) {
	c.client.Close()
	<-p.slots
}

// close logs out of every idle connection, all at once, waiting at most
// wait for the server to answer: a stalled server must not hold up an
// unmount. The connections are closed either way.
func (p *pool) close(wait time.Duration) {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range idle {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := make(chan struct{})
			go func() {
				c.client.Logout().Wait()
				close(done)
			}()
			t := time.NewTimer(wait)
			select {
			case <-done:
			case <-t.C:
			}
			t.Stop()
			c.client.Close() // also ends a Logout still waiting
			<-done
		}()
	}
	wg.Wait()
}

// selectMailbox makes mailbox the connection's selected mailbox, with
// EXAMINE when readOnly, and returns its UIDVALIDITY.
func (c *conn) selectMailbox(mailbox string, readOnly bool) (*imap.SelectData, error) {
	data, err := c.client.Select(mailbox, &imap.SelectOptions{ReadOnly: readOnly}).Wait()
	if err != nil {
		c.selected = ""
		return nil, fmt.Errorf("select %q: %w", mailbox, err)
	}
	c.selected, c.uidValidity, c.uidNext = mailbox, data.UIDValidity, data.UIDNext
	if data.UIDValidity == 0 {
		// Optional in the answer, and every UID acted on is checked
		// against it: ask STATUS (UIDNEXT too, while at it).
		if err := c.statusOfSelected(); err != nil {
			return nil, err
		}
		data.UIDValidity, data.UIDNext = c.uidValidity, c.uidNext
	}
	return data, nil
}

// statusOfSelected fills in the selected mailbox's UIDVALIDITY and UIDNEXT
// from STATUS, for a SELECT answer that lacked them (Courier sends no
// UIDNEXT). Asked before anything is fetched: mail arriving later makes a
// snapshot look older than it is, never newer.
func (c *conn) statusOfSelected() error {
	st, err := c.client.Status(c.selected, &imap.StatusOptions{UIDNext: true, UIDValidity: true}).Wait()
	if err != nil {
		return fmt.Errorf("status %q (its SELECT answer lacks UIDNEXT or UIDVALIDITY): %w", c.selected, err)
	}
	if c.uidValidity == 0 {
		c.uidValidity = st.UIDValidity
	}
	if c.uidNext == 0 {
		c.uidNext = st.UIDNext
	}
	return nil
}

// leave makes the connection select nothing, expunging nothing: UNSELECT
// where the server has it; otherwise (Courier) EXAMINE of the same mailbox
// then CLOSE, which expunges nothing from a mailbox opened read-only.
func (c *conn) leave() error {
	if c.selected == "" {
		return nil
	}
	mailbox := c.selected
	c.selected = "" // whatever happens below, nothing is known to be selected
	caps := c.client.Caps()
	if caps.Has(imap.CapUnselect) || caps.Has(imap.CapIMAP4rev2) {
		if err := c.client.Unselect().Wait(); err != nil {
			return fmt.Errorf("unselect %q: %w", mailbox, err)
		}
		return nil
	}
	if _, err := c.client.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		// A failed EXAMINE leaves no mailbox selected (RFC 3501 6.3.1).
		var imapErr *imap.Error
		if errors.As(err, &imapErr) {
			return nil
		}
		return fmt.Errorf("examine %q to leave it: %w", mailbox, err)
	}
	if err := c.client.UnselectAndExpunge().Wait(); err != nil {
		return fmt.Errorf("close %q (examined): %w", mailbox, err)
	}
	return nil
}
