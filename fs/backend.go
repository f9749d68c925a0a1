package fs

import (
	"context"
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
	Structure(ctx context.Context, mailbox string, uidValidity uint32, uid imap.UID) (*imapbackend.Structure, error)
	FetchSection(ctx context.Context, mailbox string, uidValidity uint32, uid imap.UID, section string, path []int) ([]byte, error)
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
}

const (
	// defaultListTTL keeps a burst of lookups after one readdir (ls -l,
	// find) on one snapshot, yet shows changes by the next command.
	defaultListTTL = time.Second
	// immutableTimeout is how long the kernel may keep what never changes:
	// a message's content under a given UID and UIDVALIDITY.
	immutableTimeout = time.Hour
)
