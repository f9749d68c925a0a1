package fs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/imapfs/imapfs/imapbackend"
)

// Server-side search as directories (issue 8):
//
//	FOLDER/.search/          hidden (the folder does not list it); lists nothing itself
//	FOLDER/.search/QUERY/    one UID SEARCH in FOLDER; entries: UID -> ../../UID
//	MOUNT/.search/QUERY/     the same in every selectable folder, in parallel;
//	                         entries: FOLDER%2FUID -> ../../FOLDER/UID
//
// QUERY is parsed locally by imapbackend.ParseQuery into go-imap criteria:
// a malformed query is EINVAL (and one log line saying what is wrong), and
// no byte of it reaches the wire except as a quoted string or literal that
// go-imap writes, so a query cannot add a command. Looking a query up costs
// one UID SEARCH per folder (plus a SELECT if no connection has the folder
// selected) and never a FETCH; following a link costs what entering the
// message directory costs anyway.
//
// A result is kept on the query's node and used while it is fresh: younger
// than the list TTL, and no snapshot of a searched folder has been replaced
// or dropped since (which is what a delete, move or append through the mount
// does). The kernel keeps the entries for the list TTL too. Everything here
// is read-only: creating, removing or renaming anything fails with EROFS.

// searchParallel bounds how many folders a search of the whole mount asks
// at once: the backend pool has 4 connections, and each search that waits
// for a free connection is charged the wait against its timeout.
const searchParallel = 4

// SearchDir is FOLDER/.search (or MOUNT/.search): every name looked up in
// it is a query.
type SearchDir struct {
	gofs.Inode
	searchReadOnly
	fsys   *FS
	folder *FolderNode // whose .search this is; its path follows renames
}

// QueryNode is FOLDER/.search/QUERY: the messages the server found, as
// symbolic links to their directories.
type QueryNode struct {
	gofs.Inode
	searchReadOnly
	fsys     *FS
	folder   *FolderNode
	query    string
	criteria *imap.SearchCriteria

	mu     sync.Mutex
	result *searchResult
	flight flight[*searchResult]
}

// SearchLink is one entry of a query directory: a symbolic link to a
// message directory.
type SearchLink struct {
	gofs.Inode
	fsys   *FS
	target string
}

var (
	_ gofs.NodeLookuper   = (*SearchDir)(nil)
	_ gofs.NodeReaddirer  = (*SearchDir)(nil)
	_ gofs.NodeGetattrer  = (*SearchDir)(nil)
	_ gofs.NodeLookuper   = (*QueryNode)(nil)
	_ gofs.NodeReaddirer  = (*QueryNode)(nil)
	_ gofs.NodeGetattrer  = (*QueryNode)(nil)
	_ gofs.NodeReadlinker = (*SearchLink)(nil)
	_ gofs.NodeGetattrer  = (*SearchLink)(nil)
	_ gofs.NodeSetattrer  = (*SearchLink)(nil)
)

// searchResult is what one search found.
type searchResult struct {
	taken   time.Time
	names   []string          // entries in order: folder order, then UID
	targets map[string]string // entry name -> link target
	// snaps holds, for every folder searched, the snapshot FS held when
	// the search started (nil if none): a change through the mount
	// replaces or drops it, which makes the result stale at once.
	snaps map[string]*imapbackend.Snapshot
}

// errFolderGone: the folder whose .search this is no longer exists (or
// can no longer be selected).
var errFolderGone = errors.New("folder no longer exists")

// lookupSearch answers FOLDER/.search (and MOUNT/.search for all folders).
func (n *FolderNode) lookupSearch(ctx context.Context, d *mailboxDir, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if n.path() != "" && !d.selectable() {
		return nil, syscall.ENOENT // a \Noselect folder has nothing to search
	}
	n.fsys.searchDirAttr(&out.Attr, n.fsys.mounted)
	out.SetEntryTimeout(n.fsys.listTTL)
	out.SetAttrTimeout(n.fsys.listTTL)
	if existing := n.GetChild(virtualSearch); existing != nil {
		if _, ok := existing.Operations().(*SearchDir); ok {
			return existing, 0
		}
	}
	node := &SearchDir{fsys: n.fsys, folder: n}
	return n.NewInode(ctx, node, gofs.StableAttr{Mode: syscall.S_IFDIR}), 0
}

func (f *FS) searchDirAttr(a *fuse.Attr, mtime time.Time) {
	a.Mode = syscall.S_IFDIR | 0o555
	a.Nlink = 2
	a.SetTimes(nil, &mtime, &mtime)
}

// where names a .search directory in log lines: "INBOX/.search".
func (s *SearchDir) where() string {
	if p := s.folder.path(); p != "" {
		return p + "/" + virtualSearch
	}
	return virtualSearch
}

func (s *SearchDir) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	s.fsys.searchDirAttr(&out.Attr, s.fsys.mounted)
	return 0
}

// Readdir lists nothing: queries are reached by name only, so find, cp -r
// and rm -r of a folder never run searches.
func (s *SearchDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	return gofs.NewListDirStream(nil), 0
}

func (s *SearchDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	// Tools probe directories for names like .git, .hidden or .Trash-0
	// (shell prompts, file managers): a bare word starting with a dot is
	// not a query, so they do not cost a search. TEXT .net searches.
	if strings.HasPrefix(name, ".") && !strings.ContainsAny(name, " \"()") {
		return nil, syscall.ENOENT
	}
	var q *QueryNode
	existing := s.GetChild(name)
	if existing != nil {
		q, _ = existing.Operations().(*QueryNode)
	}
	if q == nil {
		existing = nil
		criteria, err := imapbackend.ParseQuery(name)
		if err != nil {
			s.fsys.logger.Printf("search %s/%q: %v", s.where(), name, err)
			return nil, syscall.EINVAL
		}
		q = &QueryNode{fsys: s.fsys, folder: s.folder, query: name, criteria: criteria}
	}
	r, errno := q.results(ctx)
	if errno != 0 {
		return nil, errno
	}
	s.fsys.searchDirAttr(&out.Attr, r.taken)
	out.SetEntryTimeout(s.fsys.listTTL)
	out.SetAttrTimeout(s.fsys.listTTL)
	if existing != nil {
		return existing, 0
	}
	return s.NewInode(ctx, q, gofs.StableAttr{Mode: syscall.S_IFDIR}), 0
}

func (q *QueryNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	mtime := q.fsys.mounted
	q.mu.Lock()
	if q.result != nil {
		mtime = q.result.taken
	}
	q.mu.Unlock()
	q.fsys.searchDirAttr(&out.Attr, mtime)
	out.SetTimeout(q.fsys.listTTL)
	return 0
}

// Readdir lists the result, searching again if it is stale.
func (q *QueryNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	r, errno := q.results(ctx)
	if errno != 0 {
		return nil, errno
	}
	entries := make([]fuse.DirEntry, len(r.names))
	for i, name := range r.names {
		entries[i] = fuse.DirEntry{Name: name, Mode: syscall.S_IFLNK}
	}
	return gofs.NewListDirStream(entries), 0
}

// Lookup answers an entry from the result held: the lookups that follow a
// readdir (ls -l, a shell glob, readdirplus) cost nothing. Only a name the
// result lacks is worth a new search, and only once the result is stale.
func (q *QueryNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	q.mu.Lock()
	r := q.result
	q.mu.Unlock()
	if r == nil || (r.targets[name] == "" && !q.fsys.searchFresh(r)) {
		var errno syscall.Errno
		if r, errno = q.results(ctx); errno != 0 {
			return nil, errno
		}
	}
	target, ok := r.targets[name]
	if !ok {
		return nil, syscall.ENOENT
	}
	link := &SearchLink{fsys: q.fsys, target: target}
	link.attr(&out.Attr)
	out.SetEntryTimeout(q.fsys.listTTL)
	out.SetAttrTimeout(q.fsys.listTTL)
	if existing := q.GetChild(name); existing != nil {
		if l, ok := existing.Operations().(*SearchLink); ok && l.target == target {
			return existing, 0
		}
	}
	return q.NewInode(ctx, link, gofs.StableAttr{Mode: syscall.S_IFLNK}), 0
}

// results returns the search result, searching when the one held is
// stale. Concurrent callers share one search.
func (q *QueryNode) results(ctx context.Context) (*searchResult, syscall.Errno) {
	q.mu.Lock()
	r := q.result
	q.mu.Unlock()
	if r != nil && q.fsys.searchFresh(r) {
		return r, 0
	}
	r, err := q.flight.do("", func() (*searchResult, error) {
		// Other callers wait on this search: one giving up must not fail them.
		return q.search(context.WithoutCancel(ctx))
	})
	if err != nil {
		return nil, q.errno(err)
	}
	q.mu.Lock()
	q.result = r
	q.mu.Unlock()
	return r, 0
}

func (q *QueryNode) errno(err error) syscall.Errno {
	var refused *imapbackend.SearchError
	switch {
	case errors.Is(err, errFolderGone):
		return syscall.ENOENT
	case errors.As(err, &refused):
		// The query parsed, but the server would not run it (a key or
		// charset it does not support): the query is at fault.
		q.fsys.logger.Printf("search %q: %v", q.query, err)
		return syscall.EINVAL
	}
	return q.fsys.errno(fmt.Sprintf("search %q", q.query), err)
}

// searchTarget is one folder to search, and where it stands in the mount.
type searchTarget struct {
	path    string // escaped names joined by "/"
	mailbox string // the server's name
}

// search asks the server: one UID SEARCH in the folder, or in every
// selectable folder for the root's .search.
func (q *QueryNode) search(ctx context.Context) (*searchResult, error) {
	f := q.fsys
	path := q.folder.path()
	var targets []searchTarget
	if path == "" {
		t, err := f.mailboxTree(ctx, f.listTTL) // folders created elsewhere count too
		if err != nil {
			return nil, err
		}
		targets = selectableFolders(t.root, "", targets)
	} else {
		t, err := f.mailboxTree(ctx, immutableTimeout)
		if err != nil {
			return nil, err
		}
		d := t.find(path)
		if d == nil || !d.selectable() {
			return nil, errFolderGone
		}
		targets = []searchTarget{{path: path, mailbox: d.mailbox.Name}}
	}

	r := &searchResult{taken: time.Now(), targets: map[string]string{}, snaps: map[string]*imapbackend.Snapshot{}}
	f.mu.Lock()
	for _, tg := range targets {
		r.snaps[tg.mailbox] = f.snaps[tg.mailbox]
	}
	f.mu.Unlock()

	found := make([][]imap.UID, len(targets))
	errs := make([]error, len(targets))
	dropped := make([]bool, len(targets))
	sem := make(chan struct{}, searchParallel)
	var wg sync.WaitGroup
	for i, tg := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			uidValidity, uids, err := f.backend.Search(ctx, tg.mailbox, q.criteria)
			if err != nil {
				errs[i] = err
				return
			}
			dropped[i] = f.checkValidity(tg.mailbox, uidValidity)
			found[i] = uids
		}()
	}
	wg.Wait()

	for i, tg := range targets {
		if dropped[i] {
			r.snaps[tg.mailbox] = nil // checkValidity dropped it: nil is current
		}
	}

	all := path == ""
	var tree *mailboxTree
	for i, tg := range targets {
		if err := errs[i]; err != nil {
			var refused *imapbackend.SearchError
			var imapErr *imap.Error
			switch {
			case errors.As(err, &refused):
				return nil, err
			case all && errors.As(err, &imapErr):
				// The server would not select this folder (deleted since
				// the list, or not really selectable): the other folders'
				// results still stand.
				if imapErr.Code != imap.ResponseCodeNonExistent {
					f.logger.Printf("search %q: skipping %q: %v", q.query, tg.mailbox, err)
				}
				continue
			}
			return nil, err
		}
		if tree == nil {
			tree, _ = f.mailboxTree(ctx, immutableTimeout)
		}
		var d *mailboxDir
		if tree != nil {
			d = tree.find(tg.path)
		}
		for _, uid := range found[i] {
			uidName := strconv.FormatUint(uint64(uid), 10)
			if d != nil && d.children[uidName] != nil {
				continue // a child mailbox with this name hides the message
			}
			name, target := uidName, "../../"+uidName
			if all {
				name = escapeSearchPath(tg.path) + "%2F" + uidName
				target = "../../" + tg.path + "/" + uidName
			}
			if _, dup := r.targets[name]; !dup {
				r.names = append(r.names, name)
			}
			r.targets[name] = target
		}
	}
	return r, nil
}

// checkValidity compares the UIDVALIDITY a search ran under with the
// folder's snapshot: if they differ, the snapshot's UIDs mean other
// messages now, and the folder must be listed anew before a link into it
// is followed. It reports whether it dropped the snapshot.
func (f *FS) checkValidity(mailbox string, uidValidity uint32) (dropped bool) {
	f.mu.Lock()
	s := f.snaps[mailbox]
	f.mu.Unlock()
	if s == nil || s.UIDValidity == uidValidity {
		return false
	}
	f.logger.Printf("mailbox %q changed UIDVALIDITY from %d to %d; cached content dropped", mailbox, s.UIDValidity, uidValidity)
	f.dropMailbox(mailbox)
	return true
}

// searchFresh reports whether a result may still be shown: younger than
// the list TTL, and no searched folder's snapshot replaced or dropped
// since (a delete, move or append through the mount does that).
func (f *FS) searchFresh(r *searchResult) bool {
	if time.Since(r.taken) >= f.listTTL {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for mailbox, s := range r.snaps {
		if f.snaps[mailbox] != s {
			return false
		}
	}
	return true
}

// selectableFolders appends every selectable folder at or below d, in
// tree order.
func selectableFolders(d *mailboxDir, path string, out []searchTarget) []searchTarget {
	if d.selectable() {
		out = append(out, searchTarget{path: path, mailbox: d.mailbox.Name})
	}
	for _, name := range d.names {
		p := name
		if path != "" {
			p = path + "/" + name
		}
		out = selectableFolders(d.children[name], p, out)
	}
	return out
}

// escapeSearchPath makes a folder's path (escaped names joined by "/")
// one directory entry: "%" becomes %25 and "/" %2F, so that
// "Work/Projects" is "Work%2FProjects" and the mapping can be undone.
var searchPathEscaper = strings.NewReplacer("%", "%25", "/", "%2F")

func escapeSearchPath(path string) string { return searchPathEscaper.Replace(path) }

func (l *SearchLink) attr(a *fuse.Attr) {
	a.Mode = syscall.S_IFLNK | 0o777
	a.Nlink = 1
	a.Size = uint64(len(l.target))
	a.SetTimes(nil, &l.fsys.mounted, &l.fsys.mounted)
}

func (l *SearchLink) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return []byte(l.target), 0
}

func (l *SearchLink) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	l.attr(&out.Attr)
	out.SetTimeout(l.fsys.listTTL)
	return 0
}

func (l *SearchLink) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}

// searchReadOnly refuses every change inside .search: results are what
// the server found, not something to edit. rm -rf of a query directory
// removes nothing, and never the messages the links point to.
type searchReadOnly struct{}

var (
	_ gofs.NodeMkdirer   = searchReadOnly{}
	_ gofs.NodeRmdirer   = searchReadOnly{}
	_ gofs.NodeUnlinker  = searchReadOnly{}
	_ gofs.NodeRenamer   = searchReadOnly{}
	_ gofs.NodeCreater   = searchReadOnly{}
	_ gofs.NodeSymlinker = searchReadOnly{}
	_ gofs.NodeLinker    = searchReadOnly{}
	_ gofs.NodeMknoder   = searchReadOnly{}
	_ gofs.NodeSetattrer = searchReadOnly{}
)

func (searchReadOnly) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (searchReadOnly) Rmdir(ctx context.Context, name string) syscall.Errno { return syscall.EROFS }

func (searchReadOnly) Unlink(ctx context.Context, name string) syscall.Errno { return syscall.EROFS }

func (searchReadOnly) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return syscall.EROFS
}

func (searchReadOnly) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EROFS
}

func (searchReadOnly) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (searchReadOnly) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (searchReadOnly) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (searchReadOnly) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}
