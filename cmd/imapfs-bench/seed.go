package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// FolderSpec is a folder to generate.
type FolderSpec struct {
	Name string
	N    int
	Mix  Mix
	Seed uint64
}

// FolderStats is what was generated into a folder: the expectations the
// benchmark checks its answers against.
type FolderStats struct {
	Name       string         `json:"name"`
	Messages   int            `json:"messages"`
	Bytes      int64          `json:"bytes"`     // on disk, LF line endings
	WordCount  int            `json:"wordCount"` // messages with Word in a decoded part
	RawWord    int            `json:"rawWord"`   // messages with Word in their raw bytes
	Shapes     map[Shape]int  `json:"-"`
	ShapeNames map[string]int `json:"shapes"`
	SeedTime   float64        `json:"seedSeconds"`
	WarmTime   float64        `json:"warmSeconds"` // Dovecot's first SELECT and FETCH of the metadata
}

// BigStats describes the folder holding the large attachment.
type BigStats struct {
	Size   int64    `json:"size"` // attachment bytes
	SHA256 [32]byte `json:"-"`
	Hex    string   `json:"sha256"`
	Head   []byte   `json:"-"`
}

// owner is the uid and gid Dovecot reads mail as: the owner of the
// directory the maildir goes in.
func owner(dir string) (uid, gid int, err error) {
	fi, err := os.Stat(filepath.Dir(dir))
	if err != nil {
		return 0, 0, fmt.Errorf("mail owner: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return os.Getuid(), os.Getgid(), nil
	}
	return int(st.Uid), int(st.Gid), nil
}

// mkMaildir creates root/name with cur, new and tmp, owned by uid:gid.
func mkMaildir(root, name string, uid, gid int) (string, error) {
	dir := filepath.Join(root, name)
	for _, d := range []string{root, dir, filepath.Join(dir, "cur"), filepath.Join(dir, "new"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", fmt.Errorf("maildir: %w", err)
		}
		if err := os.Lchown(d, uid, gid); err != nil {
			return "", fmt.Errorf("maildir: %w", err)
		}
	}
	return dir, nil
}

// maildirName is a maildir file name carrying the sizes, so that Dovecot
// need not read the file for RFC822.SIZE: S is the size on disk, W the
// size with CRLF line endings (what IMAP counts).
func maildirName(date time.Time, seq int, size, vsize int64, flags string) string {
	return fmt.Sprintf("%d.M%06dP%d.bench,S=%d,W=%d:2,%s", date.Unix(), seq%1000000, seq, size, vsize, flags)
}

// SeedFolder writes the messages of spec into the maildir root.
func SeedFolder(ctx context.Context, root string, spec FolderSpec) (*FolderStats, error) {
	start := time.Now()
	uid, gid, err := owner(root)
	if err != nil {
		return nil, err
	}
	dir, err := mkMaildir(root, spec.Name, uid, gid)
	if err != nil {
		return nil, err
	}
	st := &FolderStats{Name: spec.Name, Messages: spec.N, Shapes: map[Shape]int{}, ShapeNames: map[string]int{}}
	g := NewGenerator(spec.Seed, spec.N, spec.Mix, time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC))
	var buf bytes.Buffer
	for i := range spec.N {
		if i%1000 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		buf.Reset()
		info := g.Next(&buf)
		st.Shapes[info.Shape]++
		if info.Word {
			st.WordCount++
		}
		if info.RawWord {
			st.RawWord++
		}
		size := int64(buf.Len())
		vsize := size + int64(bytes.Count(buf.Bytes(), []byte{'\n'}))
		flags := ""
		switch i % 10 {
		case 0, 1, 2, 3, 4, 5, 6:
			flags = "S"
		case 7:
			flags = "FS"
		}
		path := filepath.Join(dir, "cur", maildirName(info.Date, i+1, size, vsize, flags))
		if err := writeOwned(path, buf.Bytes(), uid, gid, info.Date); err != nil {
			return nil, err
		}
		st.Bytes += size
	}
	for s, n := range st.Shapes {
		st.ShapeNames[s.String()] = n
	}
	st.SeedTime = time.Since(start).Seconds()
	return st, nil
}

func writeOwned(path string, data []byte, uid, gid int, mtime time.Time) error {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if err := os.Lchown(path, uid, gid); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	// Dovecot takes a maildir message's INTERNALDATE from its mtime.
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return nil
}

// SeedBig writes folder name holding one message with a size-byte
// attachment, streaming it to disk.
func SeedBig(root, name string, size int64) (*BigStats, error) {
	uid, gid, err := owner(root)
	if err != nil {
		return nil, err
	}
	dir, err := mkMaildir(root, name, uid, gid)
	if err != nil {
		return nil, err
	}
	tmp := filepath.Join(dir, "tmp", "big.eml")
	f, err := os.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("seed big: %w", err)
	}
	cw := &lfCounter{w: f}
	date := time.Date(2026, 11, 20, 14, 30, 0, 0, time.UTC)
	sum, head, err := WriteBig(cw, 0xb16, size, date)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("seed big: %w", err)
	}
	path := filepath.Join(dir, "cur", maildirName(date, 1, cw.n, cw.n+cw.lf, "S"))
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("seed big: %w", err)
	}
	if err := os.Lchown(path, uid, gid); err != nil {
		return nil, fmt.Errorf("seed big: %w", err)
	}
	if err := os.Chtimes(path, date, date); err != nil {
		return nil, fmt.Errorf("seed big: %w", err)
	}
	return &BigStats{Size: size, SHA256: sum, Hex: fmt.Sprintf("%x", sum), Head: head}, nil
}

// lfCounter counts the bytes and line feeds written through it.
type lfCounter struct {
	w     io.Writer
	n, lf int64
}

func (c *lfCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.lf += int64(bytes.Count(p[:n], []byte{'\n'}))
	return n, err
}

// Warm makes Dovecot index a folder and parse its messages before anything
// is measured, so that neither imapfs nor a baseline pays for the first
// SELECT of a fresh maildir (which every real server has long done).
func Warm(addr, user, pass, folder string) (time.Duration, error) {
	start := time.Now()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return 0, fmt.Errorf("warm %s: %w", folder, err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		return 0, fmt.Errorf("warm %s: login: %w", folder, err)
	}
	data, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return 0, fmt.Errorf("warm %s: examine: %w", folder, err)
	}
	if data.NumMessages > 0 {
		fetch := c.Fetch(allUIDs(), &imap.FetchOptions{
			UID: true, Flags: true, InternalDate: true, RFC822Size: true,
			BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		})
		n := 0
		for msg := fetch.Next(); msg != nil; msg = fetch.Next() {
			n++
			for item := msg.Next(); item != nil; item = msg.Next() {
			}
		}
		if err := fetch.Close(); err != nil {
			return 0, fmt.Errorf("warm %s: fetch: %w", folder, err)
		}
		if n != int(data.NumMessages) {
			return 0, fmt.Errorf("warm %s: fetched %d messages, the folder has %d", folder, n, data.NumMessages)
		}
	}
	_ = c.Logout().Wait()
	return time.Since(start), nil
}

// WarmBinarySize has Dovecot work out the decoded size of part of every
// message in folder (BINARY.SIZE), which it does once, by decoding the
// part, and keeps in its index: a real server has done so for mail read
// before, and a run should not charge it to whichever cell comes first.
func WarmBinarySize(addr, user, pass, folder string, part []int) error {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return fmt.Errorf("warm %s: %w", folder, err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		return fmt.Errorf("warm %s: login: %w", folder, err)
	}
	if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return fmt.Errorf("warm %s: examine: %w", folder, err)
	}
	msgs, err := c.Fetch(allUIDs(), &imap.FetchOptions{
		UID: true, BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: part}},
	}).Collect()
	if err != nil {
		return fmt.Errorf("warm %s: BINARY.SIZE: %w", folder, err)
	}
	if len(msgs) == 0 || len(msgs[0].BinarySectionSize) == 0 {
		return fmt.Errorf("warm %s: no BINARY.SIZE in the answer", folder)
	}
	_ = c.Logout().Wait()
	return nil
}

// allUIDs is 1:*.
func allUIDs() imap.UIDSet { return imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}} }
