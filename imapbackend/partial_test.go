package imapbackend_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"math/rand"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/imapfs/imapfs/imapbackend"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// windowMessage has a text part, a base64 attachment of payload and a
// 7bit part of plain.
func windowMessage(payload, plain []byte) []byte {
	var b bytes.Buffer
	b.WriteString("From: a@example.org\r\nSubject: windows\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n" +
		"--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
		"--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(payload)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--XX\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 7bit\r\n\r\n")
	b.Write(plain)
	b.WriteString("\r\n--XX--\r\n")
	return b.Bytes()
}

func TestFetchWindow(t *testing.T) {
	for name, newServer := range map[string]func(t *testing.T) *imaptest.Server{
		"memory": func(t *testing.T) *imaptest.Server { return imaptest.NewMemory(t) },
		"dovecot": func(t *testing.T) *imaptest.Server {
			return imaptest.NewDovecot(t, imaptest.DovecotOptions{Delimiter: '/'})
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t)
			payload := make([]byte, 300<<10+17)
			rand.New(rand.NewSource(3)).Read(payload)
			plain := bytes.Repeat([]byte("seven bit line of text\r\n"), 2000)
			uid, err := srv.Append("INBOX", windowMessage(payload, plain), nil, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			b, proxy := openThroughProxy(t, srv)
			ctx := context.Background()
			raw, err := b.FetchSection(ctx, "INBOX", 0, uid, "2", []int{2})
			if err != nil {
				t.Fatal(err)
			}
			whole, err := b.FetchSection(ctx, "INBOX", 0, uid, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			text, err := b.FetchSection(ctx, "INBOX", 0, uid, "TEXT", nil)
			if err != nil {
				t.Fatal(err)
			}
			proxy.Reset()
			for _, c := range []struct {
				section      string
				path         []int
				want         []byte
				offset, size int64
			}{
				{"2", []int{2}, raw, 0, 1000},
				{"2", []int{2}, raw, 100 << 10, 64 << 10},
				{"2", []int{2}, raw, int64(len(raw)) - 5, 1 << 20}, // the end: short
				{"2", []int{2}, raw, int64(len(raw)) + 10, 100},    // past it: empty
				{"3", []int{3}, plain, 1 << 10, 4 << 10},
				{"TEXT", nil, text, 7, 20 << 10},
				{"", nil, whole, int64(len(whole)) - 100, 1 << 20},
			} {
				got, err := fetchWindow(ctx, b, "INBOX", 0, uid, c.section, c.path, c.offset, c.size)
				if err != nil {
					t.Fatalf("window %s %d+%d: %v", c.section, c.offset, c.size, err)
				}
				from, to := min(c.offset, int64(len(c.want))), min(c.offset+c.size, int64(len(c.want)))
				if !bytes.Equal(got, c.want[from:to]) {
					t.Errorf("window %s %d+%d: %d bytes, not the %d expected", c.section, c.offset, c.size, len(got), to-from)
				}
			}
			if n := proxy.Commands()["UID FETCH"]; n != 7 {
				t.Errorf("7 windows sent %d UID FETCH (%v)", n, proxy.Commands())
			}
			// The connection is still good after all that.
			if _, err := b.Snapshot(ctx, "INBOX"); err != nil {
				t.Errorf("snapshot after the windows: %v", err)
			}
			_, err = fetchWindow(ctx, b, "INBOX", 0, uid+100, "2", []int{2}, 0, 10)
			if !errors.Is(err, imapbackend.ErrNoMessage) {
				t.Errorf("window of a missing message: %v, want ErrNoMessage", err)
			}
		})
	}
}

// fetchWindow collects what FetchWindowTo hands over: nil past the end.
func fetchWindow(ctx context.Context, b *imapbackend.Backend, mailbox string, uidValidity uint32, uid imap.UID, section string, path []int, offset, size int64) ([]byte, error) {
	var data []byte
	err := b.FetchWindowTo(ctx, mailbox, uidValidity, uid, section, path, offset, size, func(r io.Reader, n int64) error {
		data = make([]byte, n)
		_, err := io.ReadFull(r, data)
		return err
	})
	return data, err
}
