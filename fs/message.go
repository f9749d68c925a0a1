package fs

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/imapfs/imapfs/cache"
	"github.com/imapfs/imapfs/imapbackend"
)

// MessageNode is the directory of one message, named by its UID. It
// learns the message's structure the first time something inside it is
// looked up (one FETCH, or none when a read-ahead brought it: see
// prefetch.go); listing the folder does not.
type MessageNode struct {
	gofs.Inode
	fsys        *FS
	mailbox     string
	uidValidity uint32
	info        imapbackend.MessageInfo

	// entry is the structure once known, with the decoded size of each
	// part learnt so far (read, told by the server, or read ahead):
	// decoding makes it unknowable from BODYSTRUCTURE alone.
	entry atomic.Pointer[structEntry]
	stage staging
}

var (
	_ gofs.NodeLookuper  = (*MessageNode)(nil)
	_ gofs.NodeReaddirer = (*MessageNode)(nil)
	_ gofs.NodeGetattrer = (*MessageNode)(nil)
)

// Section names of the raw header and body; part files are named by number.
const (
	sectionHeader  = "HEADER"
	sectionText    = "TEXT"
	fileMessage    = "message.eml" // BODY[], the whole message
	dirAttachments = "attachments" // the attachments under their names
)

func (m *MessageNode) attr(a *fuse.Attr) {
	a.Mode = syscall.S_IFDIR | m.fsys.mode(0o755)
	a.Nlink = 2
	a.Size = uint64(m.info.Size)
	t := m.info.InternalDate
	a.SetTimes(nil, &t, &t)
}

func (m *MessageNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	m.attr(&out.Attr)
	out.SetTimeout(immutableTimeout)
	return 0
}

func (m *MessageNode) key(section string) cache.Key {
	return cache.Key{Mailbox: m.mailbox, UIDValidity: m.uidValidity, UID: uint32(m.info.UID), Section: section}
}

func (m *MessageNode) flightKey(section string) string {
	return fmt.Sprintf("%s\x00%d\x00%d\x00%s", m.mailbox, m.uidValidity, m.info.UID, section)
}

// structure returns the message's MIME structure, fetching it once (or
// finding it read ahead).
func (m *MessageNode) structure(ctx context.Context) (*imapbackend.Structure, error) {
	e, err := m.structEntry(ctx)
	if err != nil {
		return nil, err
	}
	return e.st, nil
}

// structEntry is structure with what is kept beside it (sizes, attachment
// names).
func (m *MessageNode) structEntry(ctx context.Context) (*structEntry, error) {
	if e := m.entry.Load(); e != nil {
		return e, nil
	}
	e, err := m.fsys.prefetch.structure(ctx, m.mailbox, m.uidValidity, m.info)
	if err != nil {
		return nil, err
	}
	m.entry.Store(e)
	return e, nil
}

// partSize is the decoded size of a part, if known: read, told by the
// server, or learnt by a read-ahead, before or after the structure came.
func (m *MessageNode) partSize(section string) (int64, bool) {
	if e := m.entry.Load(); e != nil {
		if n, ok := e.sizes.Load(section); ok {
			return n.(int64), true
		}
	}
	return 0, false
}

// learnSize records the decoded size of a part that was read.
func (m *MessageNode) learnSize(section string, n int64) {
	if e := m.entry.Load(); e != nil {
		e.sizes.Store(section, n)
	}
}

// convertsCharset reports whether imapfs changes a part's bytes beyond
// transfer decoding, which makes the server's BINARY.SIZE wrong for it.
func convertsCharset(p imapbackend.Part) bool {
	switch p.Charset {
	case "", "us-ascii", "utf-8", "utf8":
		return false
	}
	return p.IsInlineText()
}

func (m *MessageNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	st, attachments, err := m.attachments(ctx)
	if err != nil {
		return nil, m.fsys.errno(m.describe(), err)
	}
	var entries []fuse.DirEntry
	for _, name := range m.fileNames(st) {
		if !m.stage.hidden(name, m.fsys.stageTimeout) {
			entries = append(entries, fuse.DirEntry{Name: name, Mode: syscall.S_IFREG})
		}
	}
	if len(attachments.list) > 0 && !m.stage.hidden(dirAttachments, m.fsys.stageTimeout) {
		entries = append(entries, fuse.DirEntry{Name: dirAttachments, Mode: syscall.S_IFDIR})
	}
	return gofs.NewListDirStream(entries), 0
}

// fileNames lists the message's files: HEADER, TEXT, the leaf parts and
// message.eml.
func (m *MessageNode) fileNames(st *imapbackend.Structure) []string {
	names := []string{sectionHeader, sectionText}
	for _, p := range st.Parts {
		names = append(names, p.Section)
	}
	return append(names, fileMessage)
}

func (m *MessageNode) hasFile(st *imapbackend.Structure, name string) bool {
	for _, n := range m.fileNames(st) {
		if n == name {
			return true
		}
	}
	return false
}

func (m *MessageNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if name != sectionHeader && m.info.Size > streamThreshold {
		// A file of a large message is likely to be streamed, and its
		// read-ahead wants a second connection by its first read: the
		// structure, a size and the first chunk are as many round trips
		// as readying one takes.
		m.fsys.backend.Spare(m.mailbox)
	}
	st, err := m.structure(ctx)
	if err != nil {
		return nil, m.fsys.errno(m.describe(), err)
	}
	if m.stage.hidden(name, m.fsys.stageTimeout) {
		return nil, syscall.ENOENT
	}
	if name == dirAttachments {
		_, attachments, err := m.attachments(ctx)
		if err != nil {
			return nil, m.fsys.errno(m.describe(), err)
		}
		return m.lookupAttachments(ctx, attachments, out)
	}
	file := &SectionFile{msg: m, section: name}
	switch name {
	case sectionHeader, sectionText, fileMessage:
	default:
		for i := range st.Parts {
			if st.Parts[i].Section == name {
				file.part = &st.Parts[i]
			}
		}
		if file.part == nil {
			return nil, syscall.ENOENT
		}
	}
	var existing *gofs.Inode
	if child := m.GetChild(name); child != nil {
		if f, ok := child.Operations().(*SectionFile); ok {
			existing, file = child, f
		}
	}
	if err := file.attr(ctx, st, &out.Attr); err != nil {
		return nil, m.fsys.errno(file.describe(), err)
	}
	out.SetEntryTimeout(immutableTimeout)
	out.SetAttrTimeout(immutableTimeout)
	if existing != nil {
		return existing, 0
	}
	return m.NewInode(ctx, file, gofs.StableAttr{Mode: syscall.S_IFREG}), 0
}

func (m *MessageNode) describe() string {
	return fmt.Sprintf("message %d of %q", m.info.UID, m.mailbox)
}
