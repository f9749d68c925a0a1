package imapbackend_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/imapfs/imapfs"
	"github.com/imapfs/imapfs/imapbackend"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// openThroughProxy opens a backend on srv through a command-counting proxy.
func openThroughProxy(t *testing.T, srv *imaptest.Server) (*imapbackend.Backend, *imaptest.Proxy) {
	t.Helper()
	if err := srv.Seed(imapfs.SampleMail, "testdata/mail"); err != nil {
		t.Fatal(err)
	}
	proxy, err := imaptest.NewProxy(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	acct, err := imapbackend.ParseURL("imap+insecure://" + srv.Username + "@" + proxy.Addr)
	if err != nil {
		t.Fatal(err)
	}
	b, err := imapbackend.Open(context.Background(), imapbackend.Config{Account: acct, Password: srv.Password, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b, proxy
}

func TestSearchSendsOneUIDSearch(t *testing.T) {
	for name, opts := range map[string]imaptest.MemoryOptions{
		"esearch":    {},
		"no-esearch": {Without: []imap.Cap{imap.CapESearch}},
	} {
		t.Run(name, func(t *testing.T) {
			b, proxy := openThroughProxy(t, imaptest.NewMemoryWith(t, opts))
			ctx := context.Background()
			snap, err := b.Snapshot(ctx, "INBOX")
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				query string
				want  []imap.UID
			}{
				{"ALL", []imap.UID{1, 2, 3, 4, 5, 6, 7}},
				{"FROM bob", []imap.UID{3}},
				{"OR SUBJECT lunch SUBJECT report", []imap.UID{1, 7}},
				{"FLAGGED", nil},
			} {
				criteria, err := imapbackend.ParseQuery(c.query)
				if err != nil {
					t.Fatal(err)
				}
				proxy.Reset()
				uidValidity, got, err := b.Search(ctx, "INBOX", criteria)
				if err != nil {
					t.Fatalf("Search %q: %v", c.query, err)
				}
				if !slices.Equal(got, c.want) || uidValidity != snap.UIDValidity {
					t.Errorf("Search %q = %d %v, want %d %v", c.query, uidValidity, got, snap.UIDValidity, c.want)
				}
				cmds := proxy.Commands()
				if cmds["UID SEARCH"] != 1 || proxy.Total() != cmds["UID SEARCH"]+cmds["SELECT"] || cmds["SELECT"] > 1 {
					t.Errorf("Search %q sent %v, want one SELECT and one UID SEARCH", c.query, cmds)
				}
			}
		})
	}
}

func TestSearchErrors(t *testing.T) {
	b, _ := openThroughProxy(t, imaptest.NewMemory(t))
	ctx := context.Background()
	_, _, err := b.Search(ctx, "Nonexistent", &imap.SearchCriteria{})
	var refused *imapbackend.SearchError
	if err == nil || errors.As(err, &refused) {
		t.Errorf("Search in a missing mailbox: %v, want a select error that is not a SearchError", err)
	}
	// The memory server has no CONDSTORE: it refuses MODSEQ.
	_, _, err = b.Search(ctx, "INBOX", &imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{ModSeq: 1}})
	if !errors.As(err, &refused) || refused.Mailbox != "INBOX" {
		t.Errorf("Search the server refuses: %v, want a SearchError", err)
	}
	// The connection is still good.
	if _, uids, err := b.Search(ctx, "INBOX", &imap.SearchCriteria{}); err != nil || len(uids) != 7 {
		t.Errorf("Search after a refused one: %v, %v", uids, err)
	}
}
