package fs_test

import (
	"context"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/imapfs/imapfs/cache"
	imapfsfs "github.com/imapfs/imapfs/fs"
	"github.com/imapfs/imapfs/imapbackend"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// requestLog mounts srv with go-fuse's debug log captured, so that a test
// can count the requests the kernel sends.
type requestLog struct {
	dir string
	log *syncBuffer
}

func mountLogged(t *testing.T, srv *imaptest.Server) *requestLog {
	t.Helper()
	imaptest.RequireFUSE(t)
	acct, err := imapbackend.ParseURL("imap+insecure://" + srv.Username + "@" + srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	backend, err := imapbackend.Open(ctx, imapbackend.Config{Account: acct, Password: srv.Password, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(backend.Close)
	out := &syncBuffer{}
	fsys := imapfsfs.New(backend, imapfsfs.Options{Cache: cache.New(64 << 20), Logger: log.New(out, "", 0)})
	dir := t.TempDir()
	server, err := fsys.Mount(dir, imapfsfs.MountOptions{FsName: acct.String(), Debug: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := server.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return &requestLog{dir: dir, log: out}
}

var requestLine = regexp.MustCompile(`rx \d+: ([A-Z_]+) n\d+ (?:\{[^}]*\} )?(?:"([^"]*)")?`)

// count returns the requests logged since the last call, by name, and
// the names looked up.
func (r *requestLog) count() (ops map[string]int, lookups []string) {
	text := r.log.String()
	r.log.mu.Lock()
	r.log.buf.Reset()
	r.log.mu.Unlock()
	ops = map[string]int{}
	for _, m := range requestLine.FindAllStringSubmatch(text, -1) {
		ops[m[1]]++
		if m[1] == "LOOKUP" {
			lookups = append(lookups, m[2])
		}
	}
	return ops, lookups
}

// TestGrepKernelRequests: grep -r costs the kernel round trips it cannot
// do without. A message directory's listing brings its files with their
// attributes (READDIRPLUS), so no file is looked up; closing a file read
// sends no FLUSH; a file's bytes, fetched for its open, are already in
// the page cache, so no READ follows; and a second grep -r lists no
// message directory again.
func TestGrepKernelRequests(t *testing.T) {
	for _, kind := range []string{"memory", "dovecot-slash"} {
		t.Run(kind, func(t *testing.T) {
			r := mountLogged(t, servers(t)[kind](t))
			inbox := filepath.Join(r.dir, "INBOX")
			msgs, err := os.ReadDir(inbox)
			if err != nil || len(msgs) < 7 {
				t.Fatalf("ls INBOX: %d entries, %v", len(msgs), err)
			}
			r.count()
			first := run(t, "grep", "-r", "-c", "", inbox)
			ops, lookups := r.count()
			t.Logf("first grep -r: %v", ops)
			named := 0
			for _, name := range lookups {
				if isNamedFile(name) {
					named++
				}
			}
			// One LOOKUP per message directory (and a few for the
			// folder): none for the files within.
			if named > 0 || len(lookups) > len(msgs)+3 {
				t.Errorf("grep -r over %d messages looked up %d names (%d of them HEADER, TEXT or message.eml): %v",
					len(msgs), len(lookups), named, lookups)
			}
			if ops["FLUSH"] != 0 {
				t.Errorf("grep -r sent %d FLUSH, want none for files opened to read", ops["FLUSH"])
			}
			if ops["READ"] != 0 {
				t.Errorf("grep -r sent %d READ, want none: each file's bytes are stored in the page cache at open", ops["READ"])
			}
			if ops["READDIRPLUS"] == 0 {
				t.Errorf("grep -r listed with %v, want READDIRPLUS", ops)
			}
			if again := run(t, "grep", "-r", "-c", "", inbox); again != first {
				t.Errorf("second grep -r printed %q, the first %q", again, first)
			}
			ops, _ = r.count()
			t.Logf("second grep -r: %v", ops)
			// Only the folder itself is listed again (it may change).
			if n := ops["READDIRPLUS"] + ops["READDIR"]; n > 2 {
				t.Errorf("second grep -r sent %d READDIR(PLUS) for %d message directories, want only the folder's", n, len(msgs))
			}
		})
	}
}

// isNamedFile reports whether name is a file every message directory
// holds; part files are named like message directories, by number.
func isNamedFile(name string) bool {
	return name == "HEADER" || name == "TEXT" || name == "message.eml"
}
