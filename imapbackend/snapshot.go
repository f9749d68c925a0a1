package imapbackend

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
)

// MessageInfo is what a folder listing needs to know of one message.
type MessageInfo struct {
	UID          imap.UID
	InternalDate time.Time
	Size         int64 // RFC822.SIZE
	Flags        []imap.Flag
}

// Snapshot is the state of one mailbox at one moment: its UIDVALIDITY and
// its messages in UID order.
type Snapshot struct {
	Mailbox     string
	UIDValidity uint32
	UIDNext     imap.UID
	Messages    []MessageInfo
	Taken       time.Time
}

// Find returns the message with the given UID.
func (s *Snapshot) Find(uid imap.UID) (MessageInfo, bool) {
	i := sort.Search(len(s.Messages), func(i int) bool { return s.Messages[i].UID >= uid })
	if i < len(s.Messages) && s.Messages[i].UID == uid {
		return s.Messages[i], true
	}
	return MessageInfo{}, false
}

// Snapshot selects mailbox afresh and fetches the metadata of all its
// messages in a single UID FETCH 1:*: two commands whatever the size of
// the mailbox.
func (b *Backend) Snapshot(ctx context.Context, mailbox string) (*Snapshot, error) {
	snap := &Snapshot{Mailbox: mailbox}
	flagSets := make(flagSets)
	err := b.do(ctx, mailbox, true, func(c *conn) error {
		if c.uidNext == 0 {
			// SELECT need not say (Courier does not), and without it no
			// snapshot is ever found current by STATUS.
			if err := c.statusOfSelected(); err != nil {
				return err
			}
		}
		snap.UIDValidity, snap.UIDNext = c.uidValidity, c.uidNext
		snap.Messages = snap.Messages[:0]
		snap.Taken = time.Now()
		if c.client.Mailbox() != nil && c.client.Mailbox().NumMessages == 0 {
			return nil
		}
		b.logf("uid fetch %q 1:* (flags internaldate rfc822.size)", mailbox)
		cmd := c.client.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
			UID: true, Flags: true, InternalDate: true, RFC822Size: true,
		})
		defer cmd.Close()
		for {
			msg := cmd.Next()
			if msg == nil {
				break
			}
			buf, err := collect(msg)
			if err != nil {
				return fmt.Errorf("fetch metadata of %q: %w", mailbox, err)
			}
			if buf.UID == 0 {
				continue // an unsolicited FETCH (flag change) without UID
			}
			snap.Messages = append(snap.Messages, MessageInfo{
				UID: buf.UID, InternalDate: buf.InternalDate, Size: buf.RFC822Size, Flags: flagSets.of(buf.Flags),
			})
		}
		if err := cmd.Close(); err != nil {
			return fmt.Errorf("fetch metadata of %q: %w", mailbox, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	snap.Messages = sortUnique(snap.Messages)
	return snap, nil
}

// sortUnique orders messages by UID and keeps the last report of each UID:
// a flag change announced while the FETCH runs may report a message twice.
func sortUnique(msgs []MessageInfo) []MessageInfo {
	sort.SliceStable(msgs, func(i, j int) bool { return msgs[i].UID < msgs[j].UID })
	out := msgs[:0]
	for _, m := range msgs {
		if n := len(out); n > 0 && out[n-1].UID == m.UID {
			out[n-1] = m
			continue
		}
		out = append(out, m)
	}
	return out
}

// flagSets shares one slice among the messages with the same flags: a
// folder of 100,000 messages has a handful of distinct flag sets, and a
// slice of its own for each message would be most of the snapshot's memory.
// Callers never modify MessageInfo.Flags.
type flagSets map[string][]imap.Flag

func (s flagSets) of(flags []imap.Flag) []imap.Flag {
	if len(flags) == 0 {
		return nil
	}
	var key strings.Builder
	for _, f := range flags {
		key.WriteString(string(f))
		key.WriteByte(' ')
	}
	if shared, ok := s[key.String()]; ok {
		return shared
	}
	s[key.String()] = flags
	return flags
}
