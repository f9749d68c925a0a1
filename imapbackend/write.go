package imapbackend

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
)

// ErrReadOnly is returned (wrapped) by every change on a read-only backend.
var ErrReadOnly = errors.New("mounted read-only")

// ErrOthersDeleted is returned (wrapped) when a message cannot be deleted
// safely: the server lacks UIDPLUS, so only a plain EXPUNGE is possible,
// and it would also destroy messages another client marked \Deleted.
var ErrOthersDeleted = errors.New("server lacks UIDPLUS and other messages in the mailbox are marked \\Deleted; a plain EXPUNGE would remove them too")

func (b *Backend) writable(what string) error {
	if b.cfg.ReadOnly {
		return fmt.Errorf("%s: %w", what, ErrReadOnly)
	}
	return nil
}

// checkValidity refuses to act on a UID that belongs to an earlier
// incarnation of the mailbox.
func checkValidity(c *conn, mailbox string, uidValidity uint32) error {
	if uidValidity != 0 && c.uidValidity != uidValidity {
		return &UIDValidityError{Mailbox: mailbox, Old: uidValidity, New: c.uidValidity}
	}
	return nil
}

// DeleteMessage removes one message: UID STORE +FLAGS.SILENT (\Deleted),
// then UID EXPUNGE of that UID alone. Without UIDPLUS it falls back to a
// plain EXPUNGE only when no other message carries \Deleted, before and
// after flagging; otherwise it takes its flag back and fails with
// ErrOthersDeleted.
func (b *Backend) DeleteMessage(ctx context.Context, mailbox string, uidValidity uint32, uid imap.UID) error {
	what := fmt.Sprintf("delete message %d of %q", uid, mailbox)
	if err := b.writable(what); err != nil {
		return err
	}
	return b.do(ctx, mailbox, false, func(c *conn) error {
		if err := checkValidity(c, mailbox, uidValidity); err != nil {
			return err
		}
		b.logf("delete %q %d", mailbox, uid)
		if err := expungeOne(c, uid); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	})
}

func expungeOne(c *conn, uid imap.UID) error {
	set := imap.UIDSetNum(uid)
	uidPlus := hasUIDPlus(c)
	if !uidPlus {
		if others, err := deletedOtherThan(c, uid); err != nil {
			return err
		} else if others {
			return ErrOthersDeleted
		}
	}
	if err := c.client.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		return fmt.Errorf("flag \\Deleted: %w", err)
	}
	if uidPlus {
		if err := c.client.UIDExpunge(set).Close(); err != nil {
			return fmt.Errorf("uid expunge: %w", err)
		}
		return nil
	}
	// Look again right before EXPUNGE: another client may have flagged a
	// message since the first look. The window left is one round trip.
	others, err := deletedOtherThan(c, uid)
	if err == nil && others {
		err = ErrOthersDeleted
	}
	if err != nil {
		c.client.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
		return err
	}
	if err := c.client.Expunge().Close(); err != nil {
		return fmt.Errorf("expunge: %w", err)
	}
	return nil
}

// hasUIDPlus reports whether one message can be expunged alone (UID EXPUNGE).
func hasUIDPlus(c *conn) bool {
	return c.client.Caps().Has(imap.CapUIDPlus) || c.client.Caps().Has(imap.CapIMAP4rev2)
}

// deletedOtherThan reports whether a message other than uid carries \Deleted.
func deletedOtherThan(c *conn, uid imap.UID) (bool, error) {
	data, err := c.client.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
	if err != nil {
		return false, fmt.Errorf("search \\Deleted: %w", err)
	}
	// Ranges, not their expansion: the answer may be "1:4294967295".
	set, _ := data.All.(imap.UIDSet)
	for _, r := range set {
		if r.Start != uid || r.Stop != uid {
			return true, nil
		}
	}
	return false, nil
}

// MoveMessage moves one message to dest and returns its new UID there (0
// when the server does not say). It uses UID MOVE; without MOVE, UID COPY,
// and only once the copy succeeded, DeleteMessage's safe delete. Without
// UIDPLUS as well, the safety of that delete is checked before copying.
func (b *Backend) MoveMessage(ctx context.Context, mailbox string, uidValidity uint32, uid imap.UID, dest string) (imap.UID, error) {
	what := fmt.Sprintf("move message %d of %q to %q", uid, mailbox, dest)
	if err := b.writable(what); err != nil {
		return 0, err
	}
	var newUID imap.UID
	// Not retried on a lost connection: a COPY that took effect before
	// the connection broke would be made twice.
	err := b.doOnce(ctx, mailbox, false, func(c *conn) error {
		if err := checkValidity(c, mailbox, uidValidity); err != nil {
			return err
		}
		set := imap.UIDSetNum(uid)
		caps := c.client.Caps()
		if caps.Has(imap.CapMove) || caps.Has(imap.CapIMAP4rev2) {
			// Never call go-imap's Move without MOVE: its fallback is a
			// plain EXPUNGE when UIDPLUS is missing too.
			b.logf("uid move %q %d %q", mailbox, uid, dest)
			data, err := c.client.Move(set, dest).Wait()
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			newUID = firstUID(data.DestUIDs)
			return nil
		}
		// Without UIDPLUS the delete after the copy is a plain EXPUNGE,
		// refused while another message is \Deleted: refuse before
		// copying, or each attempt would leave one more copy behind.
		if !hasUIDPlus(c) {
			if others, err := deletedOtherThan(c, uid); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			} else if others {
				return fmt.Errorf("%s: %w", what, ErrOthersDeleted)
			}
		}
		b.logf("uid copy %q %d %q", mailbox, uid, dest)
		data, err := c.client.Copy(set, dest).Wait()
		if err != nil {
			return fmt.Errorf("%s: copy: %w", what, err)
		}
		newUID = firstUID(data.DestUIDs)
		if err := expungeOne(c, uid); err != nil {
			return fmt.Errorf("%s: copied, but the original stays: %w", what, err)
		}
		return nil
	})
	return newUID, err
}

func firstUID(set imap.NumSet) imap.UID {
	if uids, ok := set.(imap.UIDSet); ok && len(uids) > 0 {
		return uids[0].Start
	}
	return 0
}

// SetFlags replaces the flags of one message (UID STORE FLAGS.SILENT).
func (b *Backend) SetFlags(ctx context.Context, mailbox string, uidValidity uint32, uid imap.UID, flags []imap.Flag) error {
	what := fmt.Sprintf("set flags of message %d of %q", uid, mailbox)
	if err := b.writable(what); err != nil {
		return err
	}
	return b.do(ctx, mailbox, false, func(c *conn) error {
		if err := checkValidity(c, mailbox, uidValidity); err != nil {
			return err
		}
		b.logf("uid store %q %d flags %v", mailbox, uid, flags)
		if flags == nil {
			flags = []imap.Flag{}
		}
		err := c.client.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsSet, Silent: true, Flags: flags}, nil).Close()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	})
}

// Flags fetches the current flags of one message.
func (b *Backend) Flags(ctx context.Context, mailbox string, uidValidity uint32, uid imap.UID) ([]imap.Flag, error) {
	var buf *fetchResult
	if err := b.fetchOne(ctx, mailbox, uidValidity, uid, &imap.FetchOptions{Flags: true}, &buf); err != nil {
		return nil, err
	}
	return buf.Flags, nil
}

// Append stores a message in mailbox with INTERNALDATE now and returns its
// UID (0 when the server does not say).
func (b *Backend) Append(ctx context.Context, mailbox string, msg []byte) (imap.UID, error) {
	what := fmt.Sprintf("append to %q", mailbox)
	if err := b.writable(what); err != nil {
		return 0, err
	}
	if err := checkName(mailbox); err != nil {
		return 0, err
	}
	var uid imap.UID
	// Not retried on a lost connection: an APPEND that took effect before
	// the connection broke would store the message twice.
	err := b.doOnce(ctx, "", false, func(c *conn) error {
		b.logf("append %q (%d bytes)", mailbox, len(msg))
		cmd := c.client.Append(mailbox, int64(len(msg)), &imap.AppendOptions{Time: time.Now()})
		if _, err := cmd.Write(msg); err != nil {
			cmd.Close()
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := cmd.Close(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		data, err := cmd.Wait()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		uid = data.UID
		return nil
	})
	return uid, err
}

// CreateMailbox creates a mailbox (CREATE).
func (b *Backend) CreateMailbox(ctx context.Context, name string) error {
	return b.mailboxCommand(ctx, "create mailbox", name, func(c *conn) error {
		return c.client.Create(name, nil).Wait()
	})
}

// ErrMailboxNotEmpty is returned (wrapped) by DeleteMailbox when the
// mailbox holds messages or child mailboxes.
var ErrMailboxNotEmpty = errors.New("mailbox is not empty")

// DeleteMailbox deletes a mailbox if it is empty, atomically against mail
// delivered meanwhile: DELETE takes a mailbox's messages with it, and a
// message may arrive between any check and the DELETE. So the mailbox is
// first renamed to a private name nobody delivers to, checked there
// (STATUS MESSAGES, LIST of children), and deleted only if empty;
// otherwise it is renamed back and ErrMailboxNotEmpty returned. A mailbox
// that cannot hold messages (\Noselect) is deleted at once. INBOX cannot
// be deleted (RENAME INBOX would move its messages instead).
func (b *Backend) DeleteMailbox(ctx context.Context, name string) error {
	what := fmt.Sprintf("delete mailbox %q", name)
	if err := b.writable(what); err != nil {
		return err
	}
	if strings.EqualFold(name, "INBOX") {
		return fmt.Errorf("%s: INBOX cannot be deleted", what)
	}
	// Not retried on a lost connection: a RENAME that took effect before
	// the connection broke would leave the mailbox under its private name.
	return b.doOnce(ctx, "", false, func(c *conn) error {
		if err := leaveAffected(c, name); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		list, err := c.client.List("", name, nil).Collect()
		if err != nil {
			return fmt.Errorf("%s: list: %w", what, err)
		}
		if len(list) == 0 {
			return fmt.Errorf("%s: %w", what, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "no such mailbox"})
		}
		if hasAttr(list[0].Attrs, imap.MailboxAttrNoSelect) {
			b.logf("delete %q", name)
			if err := c.client.Delete(name).Wait(); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return nil
		}
		private := privateName(name, list[0].Delim)
		b.logf("rename %q %q, to delete it if empty", name, private)
		if err := c.client.Rename(name, private, nil).Wait(); err != nil {
			return fmt.Errorf("%s: rename to %q: %w", what, private, err)
		}
		empty, err := mailboxEmpty(c, private, list[0].Delim)
		if err == nil && empty {
			b.logf("delete %q", private)
			if err = c.client.Delete(private).Wait(); err == nil {
				return nil
			}
		}
		b.logf("rename %q %q, not deleted", private, name)
		if rerr := c.client.Rename(private, name, nil).Wait(); rerr != nil {
			return fmt.Errorf("%s: its content is kept under the name %q, renaming it back failed: %w", what, private, rerr)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return fmt.Errorf("%s: %w", what, ErrMailboxNotEmpty)
	})
}

// privateName is a name beside mailbox that no one delivers to.
func privateName(mailbox string, delim rune) string {
	var r [6]byte
	rand.Read(r[:])
	private := "imapfs-rmdir-" + hex.EncodeToString(r[:])
	if delim != 0 {
		if i := strings.LastIndex(mailbox, string(delim)); i >= 0 {
			return mailbox[:i+1] + private
		}
	}
	return private
}

// mailboxEmpty reports whether mailbox holds no message and no child.
func mailboxEmpty(c *conn, mailbox string, delim rune) (bool, error) {
	data, err := c.client.Status(mailbox, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		return false, fmt.Errorf("status %q: %w", mailbox, err)
	}
	if data.NumMessages == nil || *data.NumMessages > 0 {
		return false, nil
	}
	if delim == 0 {
		return true, nil
	}
	children, err := c.client.List("", mailbox+string(delim)+"*", nil).Collect()
	if err != nil {
		return false, fmt.Errorf("list children of %q: %w", mailbox, err)
	}
	return len(children) == 0, nil
}

func hasAttr(attrs []imap.MailboxAttr, want imap.MailboxAttr) bool {
	for _, a := range attrs {
		if strings.EqualFold(string(a), string(want)) {
			return true
		}
	}
	return false
}

// RenameMailbox renames a mailbox (RENAME), children included.
func (b *Backend) RenameMailbox(ctx context.Context, name, newName string) error {
	return b.mailboxCommand(ctx, "rename mailbox", name, func(c *conn) error {
		return c.client.Rename(name, newName, nil).Wait()
	})
}

// mailboxCommand runs a CREATE, DELETE or RENAME on a connection that does
// not have the mailbox selected: servers differ in what they do to a
// session whose selected mailbox disappears.
func (b *Backend) mailboxCommand(ctx context.Context, what, name string, op func(c *conn) error) error {
	what = fmt.Sprintf("%s %q", what, name)
	if err := b.writable(what); err != nil {
		return err
	}
	if err := checkName(name); err != nil {
		return err
	}
	return b.do(ctx, "", false, func(c *conn) error {
		if err := leaveAffected(c, name); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		b.logf("%s", what)
		if err := op(c); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	})
}

// leaveAffected makes the connection leave its selected mailbox when the
// command about to run renames or deletes it (or a parent of it): servers
// differ in what they do to a session whose selected mailbox disappears.
// Any other selected mailbox stays: CREATE, DELETE, RENAME and STATUS of
// other mailboxes work with one selected, and leaving costs round trips.
func leaveAffected(c *conn, name string) error {
	if c.selected == "" || !strings.HasPrefix(c.selected, name) {
		return nil // a prefix also catches "Workshop" for "Work": harmless
	}
	return c.leave()
}

// MessageCount returns how many messages a mailbox holds (STATUS MESSAGES).
func (b *Backend) MessageCount(ctx context.Context, name string) (uint32, error) {
	var n uint32
	if err := checkName(name); err != nil {
		return 0, err
	}
	err := b.do(ctx, "", false, func(c *conn) error {
		data, err := c.client.Status(name, &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			return fmt.Errorf("status %q: %w", name, err)
		}
		if data.NumMessages != nil {
			n = *data.NumMessages
		}
		return nil
	})
	return n, err
}

// NormalizeCRLF turns bare LF and bare CR into CRLF, as RFC 5322 and
// APPEND require.
func NormalizeCRLF(b []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(b) + len(b)/32)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\r':
			out.WriteString("\r\n")
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		case '\n':
			out.WriteString("\r\n")
		default:
			out.WriteByte(c)
		}
	}
	return out.Bytes()
}
