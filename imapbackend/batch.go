package imapbackend

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// This file fetches for many messages at once, so that reading a folder
// message by message costs a few round trips rather than a few per
// message. Messages missing from an answer (expunged meanwhile) are simply
// absent from the result: the caller fetches them alone, which reports
// ErrNoMessage.

// FetchSections fetches BODY.PEEK[section] of each of uids in one UID
// FETCH (section and path as for FetchSection) and gives each message's
// raw bytes to got as soon as they have arrived, so that a reader waiting
// for the first message need not wait for the last. got is called from
// one goroutine at a time and must not block; it may be called twice for
// a message when a lost connection made the fetch start over.
func (b *Backend) FetchSections(ctx context.Context, mailbox string, uidValidity uint32, uids []imap.UID, section string, path []int, got func(uid imap.UID, raw []byte)) error {
	item := sectionItem(section, path)
	errs, err := b.fetchMany(ctx, mailbox, uidValidity, []fetchRequest{{uids: uids, options: &imap.FetchOptions{
		BodySection: []*imap.FetchItemBodySection{item},
	}}}, func(_ int, buf *fetchResult) {
		data := buf.FindBodySection(item)
		if data == nil {
			if len(buf.BodySection) == 0 {
				return // an unsolicited FETCH, not the answer
			}
			data = []byte{} // NIL or empty: no content, not an error
		}
		got(buf.UID, data)
	})
	if err == nil {
		err = errs[0]
	}
	if err != nil {
		return fmt.Errorf("fetch section %q of %d messages of %q: %w", section, len(uids), mailbox, err)
	}
	return nil
}

// PartsRequest asks StructureChunks for the raw bytes of Parts of one
// message, and for the first and last raw bytes of Probed: enough to work
// out a large base64 part's decoded size without fetching it (the server's
// BINARY.SIZE is not to be trusted: Dovecot 2.3.19 answers it wrongly for
// parts that are not last, and sometimes unparsably).
type PartsRequest struct {
	UID    imap.UID
	Parts  []Part
	Probed []Part
}

func (r PartsRequest) empty() bool { return len(r.Parts) == 0 && len(r.Probed) == 0 }

// ProbeSize is how many raw bytes a probe reads at each end of a part:
// several lines of any layout RFC 2045 allows (at most 998 characters).
const ProbeSize = 4096

// Probe is what the server sent of the two ends of a part: Head is up to
// ProbeSize bytes from its start, Tail the bytes from ProbeSize before the
// end its BODYSTRUCTURE gives, asked one byte longer, so that a part
// longer than that size shows as a Tail of ProbeSize+1 bytes.
type Probe struct {
	Head, Tail []byte
}

// PartsResult is the answer to a PartsRequest: raw bytes and probes keyed
// by section number; and the TEXT when StructureChunks was asked for it
// with the structure.
type PartsResult struct {
	Raw    map[string][]byte
	Probes map[string]Probe
	Text   []byte
}

// partsGroup is one UID FETCH of parts: the messages whose item lists are
// the same (a FETCH has one item list for all its messages).
type partsGroup struct {
	req  fetchRequest
	like PartsRequest // the parts asked, the same for every UID
}

// groupParts groups requests by item list.
func groupParts(reqs []PartsRequest) []*partsGroup {
	var groups []*partsGroup
	byList := make(map[string]*partsGroup)
	for _, r := range reqs {
		if r.empty() {
			continue
		}
		key := sectionList(r.Parts) + "|" + probeList(r.Probed)
		g := byList[key]
		if g == nil {
			g = &partsGroup{like: r}
			g.req.options = partsOptions(r.Parts, r.Probed)
			byList[key] = g
			groups = append(groups, g)
		}
		g.req.uids = append(g.req.uids, r.UID)
	}
	return groups
}

func (g *partsGroup) collect(out map[imap.UID]PartsResult, buf *fetchResult) {
	if len(buf.BodySection) == 0 {
		return // an unsolicited FETCH, not the answer
	}
	r := partsResult(buf, g.like)
	r.Text = out[buf.UID].Text // asked with the structure
	out[buf.UID] = r
}

var textItem = &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Peek: true}

func partsOptions(parts, probed []Part) *imap.FetchOptions {
	options := &imap.FetchOptions{}
	for _, p := range parts {
		options.BodySection = append(options.BodySection, &imap.FetchItemBodySection{Part: p.Path, Peek: true})
	}
	for _, p := range probed {
		head, tail := probeItems(p)
		options.BodySection = append(options.BodySection, head, tail)
	}
	return options
}

// probeItems are the two partial fetches of a probe; go-imap tells their
// answers apart by their origin.
func probeItems(p Part) (head, tail *imap.FetchItemBodySection) {
	head = &imap.FetchItemBodySection{Part: p.Path, Peek: true, Partial: &imap.SectionPartial{Offset: 0, Size: ProbeSize}}
	tail = &imap.FetchItemBodySection{Part: p.Path, Peek: true, Partial: &imap.SectionPartial{Offset: max(p.Size-ProbeSize, 1), Size: ProbeSize + 1}}
	return head, tail
}

func partsResult(buf *fetchResult, like PartsRequest) PartsResult {
	r := PartsResult{Raw: make(map[string][]byte, len(like.Parts)), Probes: make(map[string]Probe, len(like.Probed))}
	for _, p := range like.Parts {
		data := buf.FindBodySection(&imap.FetchItemBodySection{Part: p.Path, Peek: true})
		if data == nil {
			data = []byte{}
		}
		r.Raw[p.Section] = data
	}
	for _, p := range like.Probed {
		head, tail := probeItems(p)
		r.Probes[p.Section] = Probe{Head: buf.FindBodySection(head), Tail: buf.FindBodySection(tail)}
	}
	return r
}

// probeList names the probes of a request, sizes included: the tail's
// offset is part of the item list.
func probeList(parts []Part) string {
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = p.Section + "/" + strconv.FormatInt(p.Size, 10)
	}
	return strings.Join(names, " ")
}

func sectionList(parts []Part) string {
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = p.Section
	}
	return strings.Join(names, " ")
}

// fetchRequest is one UID FETCH of fetchMany.
type fetchRequest struct {
	uids    []imap.UID
	options *imap.FetchOptions
}

// fetchMany sends one UID FETCH per request on one connection, each right
// after the other without waiting for answers (go-imap gives every
// untagged FETCH to the pending command whose UID set holds it, and the
// sets here are disjoint), after checking that the mailbox still has the
// caller's UIDVALIDITY. got receives each message of request i as it has
// arrived, one call at a time. The error is the connection's or the
// UIDVALIDITY check's; each command's own failure (a NO) is in errs.
func (b *Backend) fetchMany(ctx context.Context, mailbox string, uidValidity uint32, reqs []fetchRequest, got func(i int, buf *fetchResult)) (errs []error, err error) {
	errs = make([]error, len(reqs))
	err = b.do(ctx, mailbox, false, func(c *conn) error {
		if uidValidity != 0 && c.uidValidity != uidValidity {
			return &UIDValidityError{Mailbox: mailbox, Old: uidValidity, New: c.uidValidity}
		}
		clear(errs)
		var mu sync.Mutex // serialises got
		var wg sync.WaitGroup
		for i, r := range reqs {
			set := imap.UIDSetNum(slices.Sorted(slices.Values(r.uids))...)
			b.logf("uid fetch %q %s", mailbox, set)
			cmd := c.client.Fetch(set, r.options)
			// Read each answer as it comes, so that a command's literals
			// never wait behind another command's reader.
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = drainFetch(cmd, set, func(buf *fetchResult) {
					mu.Lock()
					defer mu.Unlock()
					got(i, buf)
				})
			}()
		}
		wg.Wait()
		for _, e := range errs {
			if e != nil && connLost(c, e) {
				return e // for do to retry on a fresh connection
			}
		}
		return nil
	})
	return errs, err
}

// drainFetch reads a FETCH command to its end, handing each message of
// set to got, and returns the command's result.
func drainFetch(cmd *imapclient.FetchCommand, set imap.UIDSet, got func(*fetchResult)) error {
	defer cmd.Close()
	var first error
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		buf, err := collect(msg)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		if buf.UID != 0 && set.Contains(buf.UID) {
			got(buf)
		}
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	return first
}
