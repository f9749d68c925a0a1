package imapbackend

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/emersion/go-imap/v2"
)

// StructureChunks fetches the structures of many messages chunk after
// chunk on one connection, and with each chunk its parts: once a chunk's
// structures are here, parts chooses what to fetch of each message (as
// in a PartsRequest), and those commands go out while the structures of
// the next chunks are already on their way. A chunk thus costs its
// transfer rather than round trips after the first, and got hears of the
// first chunk while the last is still on its way. got receives each
// chunk's structures and parts in order, from the goroutine that runs the
// fetch: the messages that need no parts as soon as their structures are
// here, the others with their parts; a chunk whose parts failed comes
// with the parts that arrived (a lost connection starts the whole fetch
// over, so got may hear of a chunk twice). Messages the server did not
// return are absent.
//
// withText (nil for none) names the messages whose BODY[TEXT] comes in the
// same round trip as their structure, in PartsResult.Text: for small
// messages, whose TEXT holds their parts (CutParts), a chunk then costs
// one round trip instead of two.
func (b *Backend) StructureChunks(ctx context.Context, mailbox string, uidValidity uint32, chunks [][]imap.UID,
	withText func(imap.UID) bool, parts func(*Structure) PartsRequest, got func(map[imap.UID]*Structure, map[imap.UID]PartsResult)) error {
	structOptions, header := structureItems()
	textOptions := *structOptions
	textOptions.BodySection = append(slices.Clone(structOptions.BodySection), textItem)
	err := b.do(ctx, mailbox, false, func(c *conn) error {
		if uidValidity != 0 && c.uidValidity != uidValidity {
			return &UIDValidityError{Mailbox: mailbox, Old: uidValidity, New: c.uidValidity}
		}
		// Every command sent is read to its end before the connection
		// goes back to the pool, also when this returns early.
		var wg sync.WaitGroup
		defer wg.Wait()
		send := func(uids []imap.UID, options *imap.FetchOptions) *pendingFetch {
			set := imap.UIDSetNum(slices.Sorted(slices.Values(uids))...)
			b.logf("uid fetch %q %s", mailbox, set)
			f := &pendingFetch{done: make(chan struct{})}
			cmd := c.client.Fetch(set, options)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer close(f.done)
				f.err = drainFetch(cmd, set, func(buf *fetchResult) { f.bufs = append(f.bufs, buf) })
			}()
			return f
		}
		sendGroups := func(groups []*partsGroup) []*pendingFetch {
			fs := make([]*pendingFetch, len(groups))
			for i, g := range groups {
				fs[i] = send(g.req.uids, g.req.options)
			}
			return fs
		}
		// Structures go out structureDepth chunks ahead of the chunk being
		// read, so that a chunk costs its transfer and not a round trip.
		// A chunk is one command, or two when some of its messages have
		// their TEXT asked too (a FETCH has one item list).
		sendChunk := func(uids []imap.UID) []*pendingFetch {
			var plain, texted []imap.UID
			for _, uid := range uids {
				if withText != nil && withText(uid) {
					texted = append(texted, uid)
				} else {
					plain = append(plain, uid)
				}
			}
			var fs []*pendingFetch
			if len(plain) > 0 {
				fs = append(fs, send(plain, structOptions))
			}
			if len(texted) > 0 {
				fs = append(fs, send(texted, &textOptions))
			}
			return fs
		}
		sent := make([][]*pendingFetch, 0, len(chunks))
		topUp := func(upTo int) {
			for len(sent) < min(upTo, len(chunks)) {
				sent = append(sent, sendChunk(chunks[len(sent)]))
			}
		}
		topUp(structureDepth)
		for i := range chunks {
			var bufs []*fetchResult
			for _, f := range sent[i] {
				<-f.done
				if f.err != nil {
					return f.err
				}
				bufs = append(bufs, f.bufs...)
			}
			sts := make(map[imap.UID]*Structure, len(bufs))
			ready := make(map[imap.UID]*Structure)
			res := make(map[imap.UID]PartsResult)
			var reqs []PartsRequest
			for _, buf := range bufs {
				s := structureOf(buf, header)
				if s == nil {
					continue // an unsolicited FETCH (a flag change), not the answer
				}
				if text := buf.FindBodySection(textItem); text != nil {
					res[buf.UID] = PartsResult{Text: text}
				}
				if r := parts(s); !r.empty() {
					r.UID = buf.UID
					reqs = append(reqs, r)
					sts[buf.UID] = s
				} else {
					ready[buf.UID] = s
				}
			}
			groups := groupParts(reqs)
			pending := sendGroups(groups)
			topUp(i + 1 + structureDepth)
			// The messages that need nothing more go to the reader now,
			// a round trip before the others.
			if len(pending) == 0 {
				maps.Copy(sts, ready)
			} else if len(ready) > 0 {
				readyRes := make(map[imap.UID]PartsResult)
				for uid := range ready {
					if r, ok := res[uid]; ok {
						readyRes[uid] = r
						delete(res, uid)
					}
				}
				got(ready, readyRes)
			}
			errs := make([]error, len(groups))
			for j, f := range pending {
				<-f.done
				errs[j] = f.err
				for _, buf := range f.bufs {
					groups[j].collect(res, buf)
				}
			}
			for _, e := range errs {
				if e != nil && connLost(c, e) {
					return e
				}
			}
			got(sts, res)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("fetch structure of %d chunks of messages of %q: %w", len(chunks), mailbox, err)
	}
	return nil
}

// structureDepth is how many chunks of structures StructureChunks keeps
// asked for ahead of the one it reads.
const structureDepth = 3

// pendingFetch is a command sent and being read: bufs and err are set
// once done is closed.
type pendingFetch struct {
	done chan struct{}
	bufs []*fetchResult
	err  error
}
