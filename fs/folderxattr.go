package fs

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/imapfs/imapfs/imapbackend"
)

// A folder's extended attributes tell what STATUS and LIST tell, without
// selecting it, so that `getfattr -d ~/mail/INBOX` is a folder summary.
var (
	statusXattrs = []string{"user.imap.uidvalidity", "user.imap.uidnext", "user.imap.messages", "user.imap.unseen"}
	listXattr    = "user.imap.attributes"
)

var (
	_ gofs.NodeGetxattrer  = (*FolderNode)(nil)
	_ gofs.NodeListxattrer = (*FolderNode)(nil)
)

func (n *FolderNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	d, errno := n.dir(ctx, n.fsys.listTTL)
	if errno != 0 {
		return 0, errno
	}
	var b []byte
	if d.mailbox != nil {
		b = append(append(b, listXattr...), 0)
	}
	if d.selectable() {
		for _, name := range statusXattrs {
			b = append(append(b, name...), 0)
		}
	}
	return copyXattr(dest, b)
}

func (n *FolderNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	d, errno := n.dir(ctx, n.fsys.listTTL)
	if errno != 0 {
		return 0, errno
	}
	if d.mailbox == nil {
		return 0, syscall.ENODATA
	}
	if attr == listXattr {
		attrs := make([]string, len(d.mailbox.Attrs))
		for i, a := range d.mailbox.Attrs {
			attrs[i] = string(a)
		}
		return copyXattr(dest, []byte(strings.Join(attrs, " ")))
	}
	if !d.selectable() {
		return 0, syscall.ENODATA
	}
	var field func(*imapbackend.Status) uint64
	switch attr {
	case "user.imap.uidvalidity":
		field = func(s *imapbackend.Status) uint64 { return uint64(s.UIDValidity) }
	case "user.imap.uidnext":
		field = func(s *imapbackend.Status) uint64 { return uint64(s.UIDNext) }
	case "user.imap.messages":
		field = func(s *imapbackend.Status) uint64 { return uint64(s.Messages) }
	case "user.imap.unseen":
		field = func(s *imapbackend.Status) uint64 { return uint64(s.Unseen) }
	default:
		return 0, syscall.ENODATA
	}
	st, err := n.fsys.status(ctx, d.mailbox.Name)
	if err != nil {
		return 0, n.fsys.errno("status "+d.mailbox.Name, err)
	}
	return copyXattr(dest, []byte(strconv.FormatUint(field(st), 10)))
}

// status returns STATUS of a mailbox, asked at most once per ListTTL:
// getfattr -d reads each attribute with its own request.
func (f *FS) status(ctx context.Context, mailbox string) (*imapbackend.Status, error) {
	f.mu.Lock()
	st := f.statuses[mailbox]
	f.mu.Unlock()
	if st != nil && time.Since(st.Taken) < f.listTTL {
		return st, nil
	}
	return f.statusFlight.do(mailbox, func() (*imapbackend.Status, error) {
		st, err := f.backend.Status(context.WithoutCancel(ctx), mailbox)
		if err != nil {
			return nil, err
		}
		f.mu.Lock()
		f.statuses[mailbox] = st
		f.mu.Unlock()
		return st, nil
	})
}
