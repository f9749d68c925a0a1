package fs

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/imapfs/imapfs/imapbackend"
)

// IndexFile is FOLDER/.index: one line per message, as a mail reader's
// index shows it (UID, date, sender, subject, size, flags, tab-separated,
// UTF-8), built from one UID FETCH of the envelopes of the whole folder,
// so that `grep -i invoice ~/mail/INBOX/.index` answers in one round trip.
type IndexFile struct {
	gofs.Inode
	fsys    *FS
	mailbox string
}

var (
	_ gofs.NodeOpener    = (*IndexFile)(nil)
	_ gofs.NodeGetattrer = (*IndexFile)(nil)
)

// indexEntry is a built index, kept for ListTTL so that stat, open and a
// second grep in a row do not fetch it again.
type indexEntry struct {
	data  []byte
	taken time.Time
}

func (n *FolderNode) lookupIndex(ctx context.Context, d *mailboxDir, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	out.SetEntryTimeout(n.fsys.listTTL)
	out.SetAttrTimeout(0)
	if child := n.GetChild(virtualIndex); child != nil {
		if f, ok := child.Operations().(*IndexFile); ok && f.mailbox == d.mailbox.Name {
			f.attr(&out.Attr)
			return child, 0
		}
	}
	file := &IndexFile{fsys: n.fsys, mailbox: d.mailbox.Name}
	file.attr(&out.Attr)
	return n.NewInode(ctx, file, gofs.StableAttr{Mode: syscall.S_IFREG}), 0
}

func (f *IndexFile) attr(a *fuse.Attr) {
	a.Mode = syscall.S_IFREG | f.fsys.mode(0o444)
	a.Nlink = 1
	if e := f.fsys.cachedIndex(f.mailbox); e != nil {
		a.Size = uint64(len(e.data))
		a.SetTimes(nil, &e.taken, &e.taken)
	}
}

func (f *IndexFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.attr(&out.Attr)
	out.SetTimeout(0)
	return 0
}

// Open builds the index (or reuses one younger than ListTTL). Its size is
// not known before, so the file is read with direct I/O.
func (f *IndexFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, 0, syscall.EACCES
	}
	data, err := f.fsys.index(ctx, f.mailbox)
	if err != nil {
		return nil, 0, f.fsys.errno("index of "+f.mailbox, err)
	}
	return &contentHandle{data: data}, fuse.FOPEN_DIRECT_IO | noFlush, 0
}

func (f *FS) cachedIndex(mailbox string) *indexEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e := f.indexes[mailbox]; e != nil && time.Since(e.taken) < f.listTTL {
		return e
	}
	return nil
}

func (f *FS) index(ctx context.Context, mailbox string) ([]byte, error) {
	if e := f.cachedIndex(mailbox); e != nil {
		return e.data, nil
	}
	return f.content.do("index\x00"+mailbox, func() ([]byte, error) {
		_, overviews, err := f.backend.Overviews(context.WithoutCancel(ctx), mailbox)
		if err != nil {
			return nil, err
		}
		data := formatIndex(overviews)
		f.mu.Lock()
		f.indexes[mailbox] = &indexEntry{data: data, taken: time.Now()}
		f.mu.Unlock()
		return data, nil
	})
}

// formatIndex writes one line per message: UID, date (the Date header in
// ISO 8601, else INTERNALDATE), sender, subject, size, flags.
func formatIndex(overviews []imapbackend.Overview) []byte {
	var b bytes.Buffer
	for _, o := range overviews {
		date := o.Envelope.Date
		if date.IsZero() {
			date = o.InternalDate
		}
		fields := []string{
			strconv.FormatUint(uint64(o.UID), 10),
			date.Format(time.RFC3339),
			formatAddresses(o.Envelope.From),
			o.Envelope.Subject,
			strconv.FormatInt(o.Size, 10),
			formatFlags(o.Flags),
		}
		for i, f := range fields {
			fields[i] = oneLine(f)
		}
		b.WriteString(strings.Join(fields, "\t"))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// oneLine keeps a field from breaking the line or column structure.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' || r < 0x20 {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}
