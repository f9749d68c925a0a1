package fs

import (
	"context"
	"log"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	gofs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/imapfs/imapfs/cache"
	"github.com/imapfs/imapfs/imapbackend"
)

// FS is the state shared by all nodes of one mount: the mailbox tree, the
// latest snapshot of each listed folder, and the content cache.
type FS struct {
	backend Backend
	cache   *cache.Cache
	listTTL time.Duration
	logger  *log.Logger
	mounted time.Time

	fsName string // the account URL, set by Mount
	errors errorLog
	// generation counts DropCaches: what was served before it is fetched
	// again.
	generation atomic.Uint64
	// messageNodes counts the message directories the kernel has looked
	// up: a listing alone must not add to it (see Mount).
	messageNodes atomic.Int64
	readOnly     bool
	umask        uint32
	stageTimeout time.Duration

	mu    sync.Mutex
	tree  *mailboxTree
	snaps map[string]*imapbackend.Snapshot // by server mailbox name
	// pending holds files being written into a folder, to be appended on
	// close: mailbox name -> file name -> file.
	pending map[string]map[string]*AppendFile
	// drafts are the pending message directories (cp -r), by mailbox
	// and name (draft.go).
	drafts map[string]map[string]*MessageDraft
	// statuses are the latest STATUS answers, by mailbox name.
	statuses map[string]*imapbackend.Status
	// indexes are the .index files built lately, by mailbox name.
	indexes map[string]*indexEntry
	// folders are the directory inodes of the mailboxes looked up, by
	// mailbox name, for the kernel notifications of changes.
	folders map[string]*gofs.Inode
	// liveSince holds, for each mailbox watched with IDLE right now, the
	// moment from which the server reports every change to it: a snapshot
	// taken after that is current until a change is reported, once the
	// mailbox is in pushes.
	liveSince map[string]time.Time
	// pushes holds the watched mailboxes whose IDLE has shown that it
	// reports a change as it happens (provePush): Courier's and Cyrus's
	// IDLE may only poll every 60 s, so until then STATUS still checks.
	pushes map[string]bool
	// ownChanges are when the mount last began a change of each mailbox
	// (changingHere): an IDLE report soon after shows that IDLE pushes.
	ownChanges map[string]time.Time

	treeFlight   flight[*mailboxTree]
	snapFlight   flight[*imapbackend.Snapshot]
	structs      flight[*structEntry]
	statusFlight flight[*imapbackend.Status]
	content      flight[[]byte]
	windows      windowSlots  // read-ahead of streamed files (stream.go)
	blocks       *blockBudget // memory of streamed chunks (chunkmem.go)
	// prefetch reads ahead of readers that go through a folder.
	prefetch *prefetcher
}

// New returns the file system for one account; Root gives its root node.
func New(b Backend, opts Options) *FS {
	f := &FS{
		backend:  b,
		cache:    opts.Cache,
		listTTL:  opts.ListTTL,
		logger:   opts.Logger,
		mounted:  time.Now(),
		snaps:    make(map[string]*imapbackend.Snapshot),
		pending:  make(map[string]map[string]*AppendFile),
		statuses: make(map[string]*imapbackend.Status),
		indexes:  make(map[string]*indexEntry),
		folders:  make(map[string]*gofs.Inode),

		liveSince: make(map[string]time.Time),
		pushes:    make(map[string]bool),

		ownChanges: make(map[string]time.Time),

		readOnly:     opts.ReadOnly,
		stageTimeout: opts.StageTimeout,
	}
	f.umask = 0o022
	if opts.Umask != nil {
		f.umask = *opts.Umask
	}
	if f.stageTimeout <= 0 {
		f.stageTimeout = defaultStageTimeout
	}
	if f.cache == nil {
		f.cache = cache.New(256 << 20)
	}
	if f.listTTL <= 0 {
		f.listTTL = defaultListTTL
	}
	if f.logger == nil {
		f.logger = log.Default()
	}
	f.blocks = newBlockBudget(f.cache.Budget())
	f.prefetch = newPrefetcher(f)
	return f
}

// Root returns the node to mount: the directory of all mailboxes.
func (f *FS) Root() *FolderNode { return &FolderNode{fsys: f} }

// mailboxTree returns the mailbox hierarchy, listing it again when the one
// held is older than maxAge.
func (f *FS) mailboxTree(ctx context.Context, maxAge time.Duration) (*mailboxTree, error) {
	f.mu.Lock()
	t := f.tree
	f.mu.Unlock()
	if t != nil && time.Since(t.taken) < maxAge {
		return t, nil
	}
	return f.treeFlight.do("", func() (*mailboxTree, error) {
		// Other callers wait on this load: one caller giving up must not fail them.
		list, err := f.backend.Mailboxes(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		t := buildTree(list, time.Now())
		f.mu.Lock()
		f.tree = t
		f.mu.Unlock()
		return t, nil
	})
}

// ListMailboxes reads the mailbox list in the background, as a mail
// client does when it connects, so that the first ls or cd into the mount
// finds it rather than waits a round trip for LIST. A failure is left for
// that first lookup to meet and report.
func (f *FS) ListMailboxes(ctx context.Context) {
	go f.mailboxTree(ctx, f.treeTTL())
}

// snapshot returns the message list of a mailbox, taking a new one when
// the one held is older than maxAge.
func (f *FS) snapshot(ctx context.Context, mailbox string, maxAge time.Duration) (*imapbackend.Snapshot, error) {
	f.mu.Lock()
	s := f.snaps[mailbox]
	since, live := f.liveSince[mailbox]
	live = live && f.pushes[mailbox]
	f.mu.Unlock()
	if s != nil && (time.Since(s.Taken) < maxAge || live && s.Taken.After(since)) {
		return s, nil
	}
	return f.reload(ctx, mailbox, s, true)
}

// setLive records whether mailbox is watched with IDLE now. While it is,
// and the server has shown that it pushes, its listing is not checked with
// STATUS: the server tells of changes.
func (f *FS) setLive(mailbox string, live bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !live {
		delete(f.liveSince, mailbox)
	} else if _, ok := f.liveSince[mailbox]; !ok {
		f.liveSince[mailbox] = time.Now()
	}
}

// changedLive makes every snapshot of a watched mailbox taken before now
// stale: the server has just reported a change.
func (f *FS) changedLive(mailbox string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.liveSince[mailbox]; ok {
		f.liveSince[mailbox] = time.Now()
	}
}

// pushWindow is how soon after a change an IDLE report must come to show
// that the server pushes: a server that polls every 60 s reports most
// changes later, and a listing checked within the window before the report
// bounds when the change happened.
const pushWindow = 2 * time.Second

// provePush records that mailbox's IDLE pushes when its report at reported
// came at most pushWindow after a change began through the mount, or
// brought news: old, the listing held, was confirmed current by STATUS or
// a fetch at most pushWindow earlier, and s, taken after the report,
// differs in messages (what STATUS sees; a flag change is invisible to
// it, so a report of one proves nothing).
func (f *FS) provePush(mailbox string, reported time.Time, old, s *imapbackend.Snapshot) {
	soon := func(t time.Time) bool { return t.Before(reported) && reported.Sub(t) <= pushWindow }
	f.mu.Lock()
	defer f.mu.Unlock()
	own, changedHere := f.ownChanges[mailbox]
	news := old != nil && s != nil && soon(old.Taken) && !sameMessages(old, s)
	if !(changedHere && soon(own)) && !news {
		return
	}
	if !f.pushes[mailbox] {
		f.pushes[mailbox] = true
		f.logger.Printf("watch %q: IDLE reports changes as they happen; its listing is trusted while IDLE is up", mailbox)
	}
}

// changingHere records that the mount is about to change mailbox, for
// provePush; done(false) takes the record back when the change failed.
func (f *FS) changingHere(mailbox string) (done func(ok bool)) {
	start := time.Now()
	f.mu.Lock()
	f.ownChanges[mailbox] = start
	f.mu.Unlock()
	return func(ok bool) {
		if ok {
			return
		}
		f.mu.Lock()
		if f.ownChanges[mailbox].Equal(start) {
			delete(f.ownChanges, mailbox)
		}
		f.mu.Unlock()
	}
}

// doubtPush takes back the trust in mailbox's IDLE when a STATUS check
// found a change in a listing that IDLE let stand as current: the server
// did not report it (or the report is still on its way, and trust comes
// back with the next report that proves itself).
func (f *FS) doubtPush(mailbox string, old, s *imapbackend.Snapshot) {
	if old == nil || s == nil || sameMessages(old, s) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	since, live := f.liveSince[mailbox]
	if f.pushes[mailbox] && live && old.Taken.After(since) {
		delete(f.pushes, mailbox)
		f.logger.Printf("watch %q: a change was found that IDLE did not report; its listing is checked with STATUS again", mailbox)
	}
}

// sameMessages reports whether a and b list the same messages.
func sameMessages(a, b *imapbackend.Snapshot) bool {
	if a.UIDValidity != b.UIDValidity || len(a.Messages) != len(b.Messages) {
		return false
	}
	for i := range a.Messages {
		if a.Messages[i].UID != b.Messages[i].UID {
			return false
		}
	}
	return true
}

// reload takes a new snapshot of mailbox, or, with checkStatus, keeps s if
// STATUS shows the same counts.
func (f *FS) reload(ctx context.Context, mailbox string, s *imapbackend.Snapshot, checkStatus bool) (*imapbackend.Snapshot, error) {
	return f.snapFlight.do(mailbox, func() (*imapbackend.Snapshot, error) {
		ctx := context.WithoutCancel(ctx)
		if s != nil && checkStatus {
			// STATUS is one cheap command; SELECT and FETCH 1:* of a big
			// folder are not. Unchanged counts keep the snapshot.
			if st, err := f.backend.Status(ctx, mailbox); err == nil && st.UIDValidity == s.UIDValidity &&
				st.UIDNext == s.UIDNext && int(st.Messages) == len(s.Messages) {
				renewed := *s
				renewed.Taken = time.Now()
				f.mu.Lock()
				f.snaps[mailbox] = &renewed
				f.mu.Unlock()
				return &renewed, nil
			}
		}
		s, err := f.backend.Snapshot(ctx, mailbox)
		if err != nil {
			return nil, err
		}
		f.mu.Lock()
		old := f.snaps[mailbox]
		f.snaps[mailbox] = s
		folder := f.folders[mailbox]
		f.mu.Unlock()
		if old != nil && old.UIDValidity != s.UIDValidity {
			f.logger.Printf("mailbox %q changed UIDVALIDITY from %d to %d; cached content dropped", mailbox, old.UIDValidity, s.UIDValidity)
			f.cache.DropMailbox(mailbox)
			f.prefetch.dropMailbox(mailbox)
		}
		if old != nil && folder != nil {
			forgetGone(folder, old, s)
		}
		return s, nil
	})
}

// forgetGone drops the kernel's entries of the messages that were in old
// and are not in s (expunged or moved elsewhere), from a goroutine: this
// may run inside a FUSE request on the same directory.
func forgetGone(folder *gofs.Inode, old, s *imapbackend.Snapshot) {
	var gone []string
	for _, m := range old.Messages {
		if _, ok := s.Find(m.UID); !ok || old.UIDValidity != s.UIDValidity {
			gone = append(gone, strconv.FormatUint(uint64(m.UID), 10))
		}
	}
	if len(gone) == 0 {
		return
	}
	go func() {
		for _, name := range gone {
			folder.NotifyEntry(name)
		}
	}()
}

// dropMailbox forgets everything held for a mailbox whose UIDVALIDITY
// changed, so the next lookup starts from a fresh snapshot.
func (f *FS) dropMailbox(mailbox string) {
	f.mu.Lock()
	delete(f.snaps, mailbox)
	f.mu.Unlock()
	f.cache.DropMailbox(mailbox)
	f.prefetch.dropMailbox(mailbox)
}

// forgetMailbox drops everything held for a mailbox deleted on the server
// by another client, so that the poll stops checking it, and tells the
// kernel its directory is gone.
func (f *FS) forgetMailbox(mailbox string) {
	f.mu.Lock()
	delete(f.snaps, mailbox)
	delete(f.statuses, mailbox)
	delete(f.indexes, mailbox)
	delete(f.liveSince, mailbox)
	dir := f.folders[mailbox]
	delete(f.folders, mailbox)
	f.mu.Unlock()
	f.cache.DropMailbox(mailbox)
	f.prefetch.dropMailbox(mailbox)
	if dir == nil {
		return
	}
	if name, parent := dir.Parent(); parent != nil {
		notify(parent, name)
	}
}

// treeTTL is how long a listing reuses the mailbox list. Mailboxes come
// and go far more rarely than mail, a lookup of a name the list lacks asks
// again at once, and the poll re-reads the list: a second `ls` or
// `grep -r` need not send LIST.
func (f *FS) treeTTL() time.Duration { return max(f.listTTL, mailboxListTTL) }

// mode applies the umask to the permissions of a node, and drops the write
// bits of a mount that refuses changes, so that tools do not offer what
// would fail.
func (f *FS) mode(perm uint32) uint32 {
	perm &^= f.umask
	if f.readOnly {
		perm &^= 0o222
	}
	return perm
}

// forgetTree makes the next lookup list the mailboxes again.
func (f *FS) forgetTree() {
	f.mu.Lock()
	f.tree = nil
	f.mu.Unlock()
}

// forgetSnapshot makes the next lookup in mailbox take a new snapshot.
func (f *FS) forgetSnapshot(mailbox string) {
	f.mu.Lock()
	delete(f.snaps, mailbox)
	f.mu.Unlock()
}

// removeFromSnapshot drops one message from the snapshot held, so that a
// listing right after a delete or move through the mount is already right.
// Snapshots are shared read-only, hence the copy.
func (f *FS) removeFromSnapshot(mailbox string, uid imap.UID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.snaps[mailbox]
	if s == nil {
		return
	}
	c := *s
	c.Messages = make([]imapbackend.MessageInfo, 0, len(s.Messages))
	for _, m := range s.Messages {
		if m.UID != uid {
			c.Messages = append(c.Messages, m)
		}
	}
	f.snaps[mailbox] = &c
}

// notify tells the kernel to drop its entry parent/name. It must not run
// inside the FUSE request that made the change (the kernel holds locks the
// notification needs), hence the goroutine.
func notify(parent *gofs.Inode, name string) {
	go parent.NotifyEntry(name)
}

// forgetDescendants drops the kernel's entries below dir, whose mailbox
// names changed (a rename): the nodes there still name the old mailbox.
func forgetDescendants(dir *gofs.Inode) {
	go func() {
		var walk func(d *gofs.Inode)
		walk = func(d *gofs.Inode) {
			for name, child := range d.Children() {
				walk(child)
				d.NotifyEntry(name)
			}
		}
		walk(dir)
	}()
}

// registerFolder remembers the inode of a mailbox's directory.
func (f *FS) registerFolder(mailbox string, in *gofs.Inode) {
	f.mu.Lock()
	f.folders[mailbox] = in
	f.mu.Unlock()
}

// DropCaches forgets everything fetched and listed (SIGHUP): the next
// request asks the server again.
func (f *FS) DropCaches() {
	f.generation.Add(1)
	f.cache.Purge()
	f.prefetch.purge()
	f.mu.Lock()
	f.tree = nil
	f.snaps = make(map[string]*imapbackend.Snapshot)
	f.statuses = make(map[string]*imapbackend.Status)
	f.indexes = make(map[string]*indexEntry)
	f.mu.Unlock()
}
