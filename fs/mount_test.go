package fs_test

import (
	"bytes"
	"context"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/imapfs/imapfs"
	"github.com/imapfs/imapfs/cache"
	imapfsfs "github.com/imapfs/imapfs/fs"
	"github.com/imapfs/imapfs/imapbackend"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// mount is one file system mounted for a test, reaching its server
// through a proxy that counts the commands sent.
type mount struct {
	dir   string
	srv   *imaptest.Server
	proxy *imaptest.Proxy
	fsys  *imapfsfs.FS
}

// mountServer mounts srv on a temporary directory; everything is undone in
// t.Cleanup, also when the test fails.
func mountServer(t *testing.T, srv *imaptest.Server) *mount {
	t.Helper()
	return mountServerWith(t, srv, imapfsfs.Options{})
}

// mountServerWith mounts with options; opts.ReadOnly also makes the
// backend read-only, as imapfs mount --read-only does.
func mountServerWith(t *testing.T, srv *imaptest.Server, opts imapfsfs.Options) *mount {
	t.Helper()
	imaptest.RequireFUSE(t)
	proxy, err := imaptest.NewProxy(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	p := mountVia(t, srv, proxy.Addr, 30*time.Second, opts)
	return &mount{dir: p.dir, srv: srv, proxy: proxy, fsys: p.fsys}
}

// mounted is one in-process mount: the pieces a test may act on.
type mounted struct {
	dir     string
	fsys    *imapfsfs.FS
	server  *fuse.Server
	backend *imapbackend.Backend
}

// mountVia mounts srv's account, reached at addr (the server itself, or a
// proxy in front of it), with the backend's timeout and the file system's
// options. The mount is undone in t.Cleanup, also when the test fails, and
// the backend closed after it, which must not hang even against a stalled
// server. IMAPFS_TEST_DEBUG=1 logs every IMAP operation.
func mountVia(t *testing.T, srv *imaptest.Server, addr string, timeout time.Duration, opts imapfsfs.Options) mounted {
	t.Helper()
	imaptest.RequireFUSE(t)
	acct, err := imapbackend.ParseURL("imap+insecure://" + srv.Username + "@" + addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := imapbackend.Config{Account: acct, Password: srv.Password, Timeout: timeout, ReadOnly: opts.ReadOnly}
	if os.Getenv("IMAPFS_TEST_DEBUG") != "" {
		cfg.Logger = log.Default()
	}
	backend, err := imapbackend.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		done := make(chan struct{})
		go func() { backend.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * timeout):
			t.Errorf("backend.Close did not return within %v", 3*timeout)
		}
	})
	dir := t.TempDir()
	if opts.Cache == nil {
		opts.Cache = cache.New(64 << 20)
	}
	fsys := imapfsfs.New(backend, opts)
	server, err := fsys.Mount(dir, imapfsfs.MountOptions{FsName: acct.String()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := server.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
			exec.Command("umount", "-l", dir).Run()
		}
	})
	return mounted{dir: dir, fsys: fsys, server: server, backend: backend}
}

// servers are the IMAP servers every end-to-end test runs against, seeded
// with testdata/mail.
func servers(t *testing.T) map[string]func(t *testing.T) *imaptest.Server {
	seed := func(t *testing.T, s *imaptest.Server) *imaptest.Server {
		if err := s.Seed(imapfs.SampleMail, "testdata/mail"); err != nil {
			t.Fatal(err)
		}
		return s
	}
	return map[string]func(t *testing.T) *imaptest.Server{
		"memory": func(t *testing.T) *imaptest.Server { return seed(t, imaptest.NewMemory(t)) },
		"dovecot-slash": func(t *testing.T) *imaptest.Server {
			return seed(t, imaptest.NewDovecot(t, imaptest.DovecotOptions{Delimiter: '/'}))
		},
		"dovecot-dot": func(t *testing.T) *imaptest.Server {
			return seed(t, imaptest.NewDovecot(t, imaptest.DovecotOptions{Delimiter: '.'}))
		},
	}
}

func forEachServer(t *testing.T, test func(t *testing.T, m *mount)) {
	names := []string{"memory", "dovecot-slash", "dovecot-dot"}
	all := servers(t)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			test(t, mountServer(t, all[name](t)))
		})
	}
}

// run runs a real tool and returns its standard output, failing the test
// on a non-zero exit.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func lines(s string) []string {
	f := strings.Fields(s)
	sort.Strings(f)
	return f
}

// mailboxPath is where a server mailbox appears under the mount.
func (m *mount) mailboxPath(name string) string {
	parts := imapbackend.SplitMailbox(name, m.srv.Delimiter)
	for i, p := range parts {
		parts[i] = imapbackend.EscapeName(p)
	}
	return filepath.Join(append([]string{m.dir}, parts...)...)
}

// examine opens an independent client on mailbox, read-only, closed when
// the test ends: the tests' view of the server, apart from the mount.
func examine(t *testing.T, srv *imaptest.Server, mailbox string) *imapclient.Client {
	t.Helper()
	c, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("examine %s: %v", mailbox, err)
	}
	return c
}

// uids lists a mailbox with an independent client: UID SEARCH ALL.
func uids(t *testing.T, srv *imaptest.Server, mailbox string) []imap.UID {
	t.Helper()
	c := examine(t, srv, mailbox)
	defer c.Close()
	data, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return data.AllUIDs()
}

func fetchSection(t *testing.T, c *imapclient.Client, uid imap.UID, item *imap.FetchItemBodySection) []byte {
	t.Helper()
	msgs, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{item}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch %d: %v (%d messages)", uid, err, len(msgs))
	}
	return msgs[0].FindBodySection(item)
}
