package fs

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// A message cannot lose one part: IMAP deletes whole messages. But `rm -r
// MSGDIR` and `find -delete` unlink every file before they remove the
// directory, and must not fail half-way. So an unlink inside a message
// directory is accepted only from a process that listed that directory
// just before (the FUSE request carries the caller's PID): it is staged,
// the file disappears, and the rmdir that follows deletes the message. A
// plain `rm MSGDIR/2`, `rm MSGDIR/*` (the shell, not rm, listed the
// directory) or the unlink that ends a `mv` out of the mount fails with
// EPERM. Staged unlinks not followed by the rmdir are forgotten after
// StageTimeout, and the files are visible again; the server was never
// touched.

// listedWindow is how long after listing a message directory a process may
// start unlinking its files.
const listedWindow = time.Minute

// staging is the per-message state of that protocol.
type staging struct {
	mu       sync.Mutex
	listedBy map[uint32]time.Time // pid -> when it opened the directory
	staged   map[string]time.Time // file name -> when it was unlinked
}

// callerPID returns the process that made the request. The kernel reports
// the calling thread; a multi-threaded program (any Go program) lists a
// directory from one thread and unlinks from another, so the thread is
// mapped to its thread group, the process, through /proc.
func callerPID(ctx context.Context) (uint32, bool) {
	caller, ok := fuse.FromContext(ctx)
	if !ok {
		return 0, false
	}
	return threadGroup(caller.Pid), true
}

// threadGroups remembers recent thread-to-process answers: grep -r lists
// a thousand directories from one thread, and reading /proc for each was
// a twentieth of the mount's CPU. An answer is kept briefly, since a
// thread ID is reused only after its thread has gone.
var threadGroups = struct {
	sync.Mutex
	m     map[uint32]uint32
	reset time.Time
}{}

const threadGroupTTL = time.Second

func threadGroup(tid uint32) uint32 {
	threadGroups.Lock()
	if time.Since(threadGroups.reset) > threadGroupTTL {
		threadGroups.m, threadGroups.reset = make(map[uint32]uint32), time.Now()
	}
	tgid, ok := threadGroups.m[tid]
	threadGroups.Unlock()
	if ok {
		return tgid
	}
	tgid = readThreadGroup(tid)
	threadGroups.Lock()
	threadGroups.m[tid] = tgid
	threadGroups.Unlock()
	return tgid
}

func readThreadGroup(tid uint32) uint32 {
	status, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(tid), 10) + "/status")
	if err != nil {
		return tid // no /proc (macOS): the thread is what we have
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
				return uint32(n)
			}
		}
	}
	return tid
}

func (s *staging) noteListing(pid uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.listedBy == nil {
		s.listedBy = make(map[uint32]time.Time)
	}
	for p, t := range s.listedBy {
		if now.Sub(t) > listedWindow {
			delete(s.listedBy, p)
		}
	}
	s.listedBy[pid] = now
}

// stage records an unlink by pid; false when pid did not list the
// directory recently.
func (s *staging) stage(pid uint32, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.listedBy[pid]
	if !ok || time.Since(t) > listedWindow {
		return false
	}
	if s.staged == nil {
		s.staged = make(map[string]time.Time)
	}
	s.staged[name] = time.Now()
	return true
}

// listingFlags are the open flags of the message's directories: a listing
// the kernel keeps while nothing is staged. A staged name counts until
// hidden finds it expired, so the open after the expiry lists afresh.
func (s *staging) listingFlags() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.staged) > 0 {
		return 0
	}
	return cachedListing
}

// hidden reports whether name was unlinked less than timeout ago.
func (s *staging) hidden(name string, timeout time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.staged[name]
	if ok && time.Since(t) > timeout {
		delete(s.staged, name)
		return false
	}
	return ok
}

var (
	_ gofs.NodeOpendirHandler = (*MessageNode)(nil)
	_ gofs.NodeUnlinker       = (*MessageNode)(nil)
	_ gofs.NodeRmdirer        = (*MessageNode)(nil)
	_ gofs.NodeRenamer        = (*MessageNode)(nil)
	_ gofs.NodeCreater        = (*MessageNode)(nil)
	_ gofs.NodeMkdirer        = (*MessageNode)(nil)
)

// OpendirHandle notes who lists the directory: rm -r and find do, before
// they unlink. A message's files never change, so the kernel may keep the
// listing, unless a removal is staged: then the listing changes as files
// are hidden and come back, and it is made anew at each open.
func (m *MessageNode) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if pid, ok := callerPID(ctx); ok {
		m.stage.noteListing(pid)
	}
	return &dirHandle{list: m.Readdir}, m.stage.listingFlags(), 0
}

func (m *MessageNode) Unlink(ctx context.Context, name string) syscall.Errno {
	if m.fsys.readOnly {
		return syscall.EROFS
	}
	st, err := m.structure(ctx)
	if err != nil {
		return m.fsys.errno(m.describe(), err)
	}
	if !m.hasFile(st, name) || m.stage.hidden(name, m.fsys.stageTimeout) {
		return syscall.ENOENT
	}
	pid, ok := callerPID(ctx)
	if !ok || !m.stage.stage(pid, name) {
		return syscall.EPERM
	}
	return 0
}

// Rmdir of attachments/ is the part of rm -r that empties a message
// directory: staged like the unlinks.
func (m *MessageNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	if name != dirAttachments {
		return syscall.ENOENT
	}
	if m.fsys.readOnly {
		return syscall.EROFS
	}
	pid, ok := callerPID(ctx)
	if !ok || !m.stage.stage(pid, name) {
		return syscall.EPERM
	}
	return 0
}

// Rename of a part file: IMAP cannot take one part out of a message.
func (m *MessageNode) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return syscall.EPERM
}

// Create inside a message: a message's parts are fixed.
func (m *MessageNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EPERM
}

func (m *MessageNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}
