package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// boundOptions are exactly the items op needs, for one UID FETCH 1:*.
// Every file of a message derives from BODY[], so that is grep's bound.
func boundOptions(op string, binary bool) *imap.FetchOptions {
	meta := imap.FetchOptions{UID: true, Flags: true, InternalDate: true, RFC822Size: true}
	switch op {
	case opLs:
		return &meta
	case opLsL:
		meta.BodyStructure = &imap.FetchItemBodyStructure{Extended: true}
		return &meta
	case opCat:
		return &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, Peek: true}}}
	case opGrep:
		return &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}
	case opCp:
		if binary {
			return &imap.FetchOptions{UID: true, BinarySection: []*imap.FetchItemBinarySection{{Part: []int{2}, Peek: true}}}
		}
		return &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Part: []int{2}, Peek: true}}}
	case opHead:
		// The encoded window holding the first 1000 bytes: 1336 base64
		// characters and 18 line breaks (CRLF on the wire), decoded here.
		// Not BINARY.PEEK[2]<0.1000>: go-imap v2.0.0-beta.8 cannot parse
		// the BINARY[2]<0> answer.
		return &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Part: []int{2}, Partial: &imap.SectionPartial{Offset: 0, Size: headWindow}, Peek: true}}}
	}
	panic("unknown operation " + op)
}

// measureBound is baseline (a): one SELECT and one pipelined UID FETCH 1:*
// of exactly what op needs, with go-imap directly through the same proxy,
// streaming literals as they arrive. Logging in is not timed (a mount has
// logged in before any operation too).
// headWindow is the encoded bytes baseline (a) fetches for head -c 1000.
const headWindow = 1336 + 18*2

func (r *runner) measureBound(proxy *imaptest.LatencyProxy, cell *Cell) *Measure {
	ms := &Measure{}
	err := r.bound(proxy, cell, ms)
	if err != nil {
		ms.Err = err.Error()
		r.fail(cell, "baseline (a): %v", err)
	}
	return ms
}

func (r *runner) bound(proxy *imaptest.LatencyProxy, cell *Cell, ms *Measure) error {
	c, err := imapclient.DialInsecure(proxy.Addr, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Login(r.cfg.user, r.cfg.pass).Wait(); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	binary := c.Caps().Has(imap.CapBinary) || c.Caps().Has(imap.CapIMAP4rev2)
	dest := filepath.Join(r.tmp, "bound.bin")
	defer os.Remove(dest)

	proxy.Reset()
	start := time.Now()
	sel, err := c.Select(cell.Folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return fmt.Errorf("examine: %w", err)
	}
	fetch := c.Fetch(allUIDs(), boundOptions(cell.Op, binary))
	var (
		messages, withWord int
		literalBytes       int64
		copied             *os.File
		sum                []byte
		head               []byte
	)
	var ferr error
	for msg := fetch.Next(); msg != nil; msg = fetch.Next() {
		messages++
		for item := msg.Next(); item != nil; item = msg.Next() {
			var lit imap.LiteralReader
			switch it := item.(type) {
			case imapclient.FetchItemDataBodySection:
				lit = it.Literal
			case imapclient.FetchItemDataBinarySection:
				lit = it.Literal
			}
			if lit == nil {
				continue
			}
			switch cell.Op {
			case opGrep:
				data, err := io.ReadAll(lit)
				if err != nil {
					ferr = err
				}
				literalBytes += int64(len(data))
				if bytes.Contains(data, []byte(Word)) {
					withWord++
				}
			case opCp, opHead:
				var src io.Reader = lit
				if !binary || cell.Op == opHead {
					src = base64.NewDecoder(base64.StdEncoding, lit) // skips CR and LF itself
				}
				if cell.Op == opHead {
					head, err = io.ReadAll(io.LimitReader(src, 1000))
					io.Copy(io.Discard, lit)
				} else {
					copied, err = os.Create(dest)
					if err == nil {
						h := sha256.New()
						_, err = io.Copy(io.MultiWriter(copied, h), src)
						sum = h.Sum(nil)
						copied.Close()
					}
				}
				if err != nil {
					ferr = err
				}
			default:
				n, err := io.Copy(io.Discard, lit)
				if err != nil {
					ferr = err
				}
				literalBytes += n
			}
		}
	}
	if err := fetch.Close(); err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	ms.Wall = time.Since(start).Seconds()
	ms.FromServer, ms.ToServer = proxy.BytesFromServer(), proxy.BytesToServer()
	ms.ByName = proxy.Commands()
	ms.Commands = proxy.Total()
	_ = c.Logout().Wait()
	if ferr != nil {
		return fmt.Errorf("fetch: %w", ferr)
	}

	if messages != int(sel.NumMessages) {
		return fmt.Errorf("fetched %d messages of %d", messages, sel.NumMessages)
	}
	switch cell.Op {
	case opLs, opLsL:
		ms.Result = fmt.Sprintf("%d messages", messages)
	case opCat:
		r.headerBytes[cell.Folder] = literalBytes
		ms.Result = fmt.Sprintf("%d header bytes", literalBytes)
	case opGrep:
		ms.Result = fmt.Sprintf("%d messages carry the word in raw bytes", withWord)
		if want := r.stats[cell.Folder].RawWord; withWord != want {
			return fmt.Errorf("%d fetched messages carry %s in their raw bytes, want %d", withWord, Word, want)
		}
	case opCp:
		if !bytes.Equal(sum, r.big.SHA256[:]) {
			return errors.New("the fetched attachment's SHA-256 differs from the generated one")
		}
		ms.Result = "SHA-256 equal"
	case opHead:
		if !bytes.Equal(head, r.big.Head) {
			return errors.New("the fetched first 1000 bytes differ from the attachment's")
		}
		ms.Result = "1000 bytes, equal"
	}
	return nil
}
