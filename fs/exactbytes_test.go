package fs_test

import (
	"bytes"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/imapfs/imapfs/cache"
	imapfsfs "github.com/imapfs/imapfs/fs"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// checkSizes is the invariant any test can ask of a directory in a mount:
// for every file below it, the size stat gives before reading, the bytes
// a read returns and the size stat gives after are one number. It returns
// the files' contents by path relative to dir.
func checkSizes(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	got := make(map[string][]byte)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		before, err := os.Stat(p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		after, err := os.Stat(p)
		if err != nil {
			return err
		}
		if before.Size() != int64(len(data)) || after.Size() != int64(len(data)) {
			t.Errorf("%s: stat said %d bytes before reading and %d after, a read gave %d", p, before.Size(), after.Size(), len(data))
		}
		rel, _ := filepath.Rel(dir, p)
		got[rel] = data
		return nil
	})
	if err != nil {
		t.Errorf("walk %s: %v", dir, err)
	}
	return got
}

// TestShapesReadBackExact checks every file of every generated message
// shape (shapes_test.go) against an independent decode of BODY.PEEK[]:
// stat size, the bytes cp copies, and the bytes a read gives are the
// same, on a first cp, a second cp, and after SIGHUP dropped the caches;
// and with a cache too small to keep anything from one read to the next.
// Dovecot 2.3.19 answers BINARY.SIZE wrongly for large parts that are not
// last: no size may come from it.
func TestShapesReadBackExact(t *testing.T) {
	for _, kind := range []string{"memory", "dovecot", "dovecot-2MiB-cache"} {
		t.Run(kind, func(t *testing.T) {
			var srv *imaptest.Server
			opts := imapfsfs.Options{}
			switch kind {
			case "memory":
				srv = imaptest.NewMemory(t)
			case "dovecot-2MiB-cache":
				// Everything is evicted between one read and the next.
				opts.Cache = cache.New(2 << 20)
				fallthrough
			default:
				srv = imaptest.NewDovecot(t, imaptest.DovecotOptions{Delimiter: '/'})
			}
			// Created first: Dovecot drops a connection whose APPEND of a
			// large literal it answers with TRYCREATE.
			if err := srv.Create("Shapes"); err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewSource(14))
			shapes := messageShapes(rng)
			for _, s := range shapes {
				if _, err := srv.Append("Shapes", s.build(rng), nil, time.Now()); err != nil {
					t.Fatalf("append %s: %v", s.name, err)
				}
			}
			m := mountServerWith(t, srv, opts)
			c := examine(t, srv, "Shapes")
			want := make(map[imap.UID]map[string][]byte)
			for i, uid := range uids(t, srv, "Shapes") {
				files, err := expectedFiles(fetchSection(t, c, uid, &imap.FetchItemBodySection{Peek: true}))
				if err != nil {
					t.Fatalf("%s: %v", shapes[i].name, err)
				}
				want[uid] = files
			}
			if len(want) != len(shapes) {
				t.Fatalf("%d messages on the server, %d appended", len(want), len(shapes))
			}
			checked := 0
			for _, pass := range []string{"first cp", "second cp", "after SIGHUP"} {
				if pass == "after SIGHUP" {
					m.fsys.DropCaches()
				}
				for i, uid := range uids(t, srv, "Shapes") {
					src := filepath.Join(m.mailboxPath("Shapes"), strconv.Itoa(int(uid)))
					stats := statFiles(t, src)
					dst := t.TempDir()
					run(t, "cp", "-r", src, dst)
					copied := readTree(t, filepath.Join(dst, strconv.Itoa(int(uid))))
					name := shapes[i].name
					for f, data := range want[uid] {
						got, ok := copied[f]
						switch {
						case !ok:
							t.Errorf("%s, %s (%d): cp did not copy %s", pass, name, uid, f)
						case !bytes.Equal(got, data):
							t.Errorf("%s, %s (%d): %s: cp copied %d bytes, want %d (the decode of BODY.PEEK[])", pass, name, uid, f, len(got), len(data))
						case stats[f] != int64(len(data)) && !(shapes[i].resized && pass == "first cp"):
							t.Errorf("%s, %s (%d): %s: stat said %d bytes before cp, the file has %d", pass, name, uid, f, stats[f], len(data))
						}
						checked++
					}
					for f := range copied {
						if _, ok := want[uid][f]; !ok {
							t.Errorf("%s, %s (%d): cp copied %s, which the message does not have", pass, name, uid, f)
						}
					}
					for f, data := range checkSizes(t, src) {
						if !bytes.Equal(data, want[uid][f]) {
							t.Errorf("%s, %s (%d): %s: a read gave %d bytes, want %d", pass, name, uid, f, len(data), len(want[uid][f]))
						}
					}
				}
			}
			t.Logf("%d shapes, %d files checked over 3 passes", len(shapes), checked)
		})
	}
}

// statFiles stats every file below dir, by path relative to dir.
func statFiles(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	sizes := make(map[string]int64)
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Errorf("walk %s: %v", p, err)
			return nil
		}
		if !d.IsDir() {
			info, err := d.Info()
			if err != nil {
				t.Errorf("stat %s: %v", p, err)
				return nil
			}
			rel, _ := filepath.Rel(dir, p)
			sizes[rel] = info.Size()
		}
		return nil
	})
	return sizes
}

// readTree reads every file below dir (a copy on local disk).
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := make(map[string][]byte)
	var names []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return err
	})
	sort.Strings(names)
	for _, p := range names {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		files[rel] = data
	}
	return files
}

// TestUnparsableBinarySize: a server that answers BINARY.SIZE with a
// number go-imap cannot parse (Dovecot 2.3.19 sends 18446744073707820042
// for some parts) costs nothing: imapfs never asks it, every file of the
// message reads in full, and no connection is lost and made again.
func TestUnparsableBinarySize(t *testing.T) {
	srv := imaptest.NewDovecot(t, imaptest.DovecotOptions{Delimiter: '/'})
	if err := srv.Create("Shapes"); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(2))
	shapes := messageShapes(rng)[:4]
	for _, s := range shapes {
		if _, err := srv.Append("Shapes", s.build(rng), nil, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	proxy, err := imaptest.NewFaultProxy(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	sizes := regexp.MustCompile(`BINARY\.SIZE\[([0-9.]*)\] [0-9]+`)
	var rewritten atomic.Int64
	proxy.Rewrite(func(line []byte) []byte {
		if sizes.Match(line) {
			rewritten.Add(1)
		}
		return sizes.ReplaceAll(line, []byte("BINARY.SIZE[$1] 18446744073707820042"))
	})
	m := mountVia(t, srv, proxy.Addr, 30*time.Second, imapfsfs.Options{})
	c := examine(t, srv, "Shapes")
	for _, uid := range uids(t, srv, "Shapes") {
		want, err := expectedFiles(fetchSection(t, c, uid, &imap.FetchItemBodySection{Peek: true}))
		if err != nil {
			t.Fatal(err)
		}
		got := checkSizes(t, filepath.Join(m.dir, "Shapes", strconv.Itoa(int(uid))))
		for f, data := range want {
			if !bytes.Equal(got[f], data) {
				t.Errorf("message %d: %s: %d bytes read, want %d", uid, f, len(got[f]), len(data))
			}
		}
	}
	made := proxy.Accepted()
	t.Logf("%d connections made, %d BINARY.SIZE answers rewritten, %v", made, rewritten.Load(), proxy.Commands())
	if max := int64(m.backend.Stats().MaxConns + 1); made > max {
		t.Errorf("%d connections made for %d messages: a reconnect loop (at most %d expected)", made, len(shapes), max)
	}
}

// TestSeekPastShiftedBase64: a base64 part whose lines all look regular
// but hold a character too few early on and one too many later (sized
// right by its probe): a reader that seeks between the two, where every
// byte is off from where the layout puts it, still gets the bytes an
// independent decode gives, never a window decoded at the wrong place.
func TestSeekPastShiftedBase64(t *testing.T) {
	srv := imaptest.NewDovecot(t, imaptest.DovecotOptions{Delimiter: '/'})
	rng := rand.New(rand.NewSource(15))
	part := shapePart{kind: "b64", size: 3 << 20, line: 76, name: "shifted.bin", quirk: "shifted", quirkAt: 0.2}
	s := shape{name: "shifted", parts: []shapePart{{kind: "text", size: 500}, part}}
	uid, err := srv.Append("INBOX", s.build(rng), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m := mountServer(t, srv)
	want, err := expectedFiles(fetchSection(t, examine(t, srv, "INBOX"), uid, &imap.FetchItemBodySection{Peek: true}))
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(m.mailboxPath("INBOX"), strconv.Itoa(int(uid)), "2")
	if st, err := os.Stat(src); err != nil || st.Size() != int64(len(want["2"])) {
		t.Fatalf("stat %s: %v, %v; want %d bytes", src, st, err, len(want["2"]))
	}
	// MiB 1 to 2 lie between the two quirks (at 20% and 50% of the part).
	got := run(t, "dd", "if="+src, "bs=256k", "skip=4", "count=4", "status=none")
	if got != string(want["2"][1<<20:2<<20]) {
		t.Errorf("dd of MiB 1 to 2 gave %d bytes that are not the part's there", len(got))
	}
	if got := run(t, "cat", src); got != string(want["2"]) {
		t.Errorf("cat gave %d bytes, want the %d of the part", len(got), len(want["2"]))
	}
}
