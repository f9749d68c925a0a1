package fs

import (
	"context"
	"io"
	"log"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/imapfs/imapfs/cache"
	"github.com/imapfs/imapfs/imapbackend"
)

// Backend is what the file system needs of the IMAP side.
// *imapbackend.Backend implements it.
type Backend interface {
	Mailboxes(ctx context.Context) ([]imapbackend.Mailbox, error)
	Snapshot(ctx context.Context, mailbox string) (*imapbackend.Snapshot, error)
	FetchSection(ctx context.Context, mailbox string, uidValidity uint32, uid imap.UID, section string, path []int) ([]byte, error)
	// Raw byte ranges of a section, for streaming large files (stream.go),
	// handed to sink as they arrive.
	FetchWindowTo(ctx context.Context, mailbox string, uidValidity uint32, uid imap.UID, section string, path []int, offset, size int64, sink func(r io.Reader, n int64) error) error
	// Spare readies one more connection for mailbox in the background.
	Spare(mailbox string)
	// Batches: one round trip for many messages (see imapbackend/batch.go);
	// a single message's structure is a batch of one.
	StructureChunks(ctx context.Context, mailbox string, uidValidity uint32, chunks [][]imap.UID, withText func(imap.UID) bool,
		parts func(*imapbackend.Structure) imapbackend.PartsRequest, got func(map[imap.UID]*imapbackend.Structure, map[imap.UID]imapbackend.PartsResult)) error
	FetchSections(ctx context.Context, mailbox string, uidValidity uint32, uids []imap.UID, section string, path []int, got func(uid imap.UID, raw []byte)) error
	Overviews(ctx context.Context, mailbox string) (uint32, []imapbackend.Overview, error)
	Status(ctx context.Context, mailbox string) (*imapbackend.Status, error)
	Flags(ctx context.Context, mailbox string, uidValidity uint32, uid imap.UID) ([]imap.Flag, error)
	Search(ctx context.Context, mailbox string, criteria *imap.SearchCriteria) (uidValidity uint32, uids []imap.UID, err error)

	// Changes; a read-only backend refuses them all.
	DeleteMessage(ctx context.Context, mailbox string, uidValidity uint32, uid imap.UID) error
	MoveMessage(ctx context.Context, mailbox string, uidValidity uint32, uid imap.UID, dest string) (imap.UID, error)
	SetFlags(ctx context.Context, mailbox string, uidValidity uint32, uid imap.UID, flags []imap.Flag) error
	Append(ctx context.Context, mailbox string, msg []byte) (imap.UID, error)
	CreateMailbox(ctx context.Context, name string) error
	DeleteMailbox(ctx context.Context, name string) error
	RenameMailbox(ctx context.Context, name, newName string) error
	MessageCount(ctx context.Context, name string) (uint32, error)

	// Stats are counters for the status file.
	Stats() imapbackend.Stats
	// Watch tells ev when mailbox changes on the server, and whether it is
	// being watched, until ctx ends (IDLE on a connection of its own).
	Watch(ctx context.Context, mailbox string, ev imapbackend.WatchEvents) error
}

var _ Backend = (*imapbackend.Backend)(nil)

// Options tune the file system.
type Options struct {
	// Cache holds fetched content; nil means a 256 MiB cache.
	Cache *cache.Cache
	// ListTTL is how long a mailbox list or a folder's message list is
	// reused before it is asked of the server again (default 1 s).
	ListTTL time.Duration
	// Logger receives one line per failed operation; nil means log.Default.
	Logger *log.Logger
	// ReadOnly refuses every change with EROFS before it reaches the server.
	ReadOnly bool
	// Umask, when set, clears permission bits of every node (--umask); the
	// default 022 gives directories 0755 and files 0644.
	Umask *uint32
	// StageTimeout is how long the unlinks of a whole-message removal
	// (rm -r) wait for the rmdir that deletes the message (default 5 s).
	StageTimeout time.Duration
}

const (
	// defaultListTTL keeps a burst of lookups after one readdir (ls -l,
	// find) on one snapshot, yet shows changes by the next command.
	defaultListTTL = time.Second
	// mailboxListTTL is how long a directory listing reuses the mailbox
	// list (see FS.treeTTL).
	mailboxListTTL = 30 * time.Second
	// immutableTimeout is how long the kernel may keep what never changes:
	// a message's content under a given UID and UIDVALIDITY.
	immutableTimeout = time.Hour
	// smallPart and smallPartsBudget bound what is fetched with a message's
	// structure: every part that small, so their sizes are exact from the
	// first stat and reading them costs no further round trip.
	smallPart        = 64 << 10
	smallPartsBudget = 256 << 10
	// defaultStageTimeout is how long `rm -r` may take between unlinking a
	// message's files and removing its directory.
	defaultStageTimeout = 5 * time.Second
)
