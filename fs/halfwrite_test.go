package fs_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// Writes that must not half-happen (issue 15): an APPEND once per written
// file, at its last close; staged dot-files; cp -r of message directories;
// mv without MOVE that checks before it copies; rmdir against delivery.

// TestMoveWithoutMoveOrUIDPlusChecksFirst: without MOVE and UIDPLUS a
// move is COPY then a plain EXPUNGE, unsafe while another message is
// \Deleted; it must be refused before the COPY, however often it is
// retried.
func TestMoveWithoutMoveOrUIDPlusChecksFirst(t *testing.T) {
	srv := imaptest.NewMemoryWith(t, imaptest.MemoryOptions{Without: []imap.Cap{imap.CapMove, imap.CapUIDPlus}})
	if err := srv.Create("Work"); err != nil {
		t.Fatal(err)
	}
	m := mountServer(t, srv)
	a, b := appendTwo(t, srv)
	storeFlags(t, srv, "INBOX", a, imap.StoreFlagsAdd, imap.FlagDeleted)
	work := m.mailboxPath("Work")
	for range 2 {
		if out := fails(t, "mv", msgPath(m, "INBOX", b), work+"/"); !strings.Contains(out, "busy") {
			t.Errorf("mv while another message is \\Deleted: %q, want EBUSY", out)
		}
	}
	if got := uids(t, srv, "Work"); len(got) != 0 {
		t.Errorf("the refused moves left %d copies in Work", len(got))
	}
	if c := m.proxy.Commands(); c["UID COPY"]+c["COPY"] != 0 || c["EXPUNGE"] != 0 {
		t.Errorf("refused moves sent %v", c)
	}
	if flags, ok := flagsOf(t, srv, "INBOX", b); !ok || slices.Contains(flags, imap.FlagDeleted) {
		t.Errorf("the message after the refused moves: exists %v, flags %v", ok, flags)
	}
	storeFlags(t, srv, "INBOX", a, imap.StoreFlagsDel, imap.FlagDeleted)
	run(t, "mv", msgPath(m, "INBOX", b), work+"/")
	if got := uids(t, srv, "Work"); len(got) != 1 {
		t.Errorf("Work holds %d messages after the move, want 1", len(got))
	}
	if _, ok := flagsOf(t, srv, "INBOX", b); ok {
		t.Error("the moved message stays in INBOX")
	}
	if _, ok := flagsOf(t, srv, "INBOX", a); !ok {
		t.Error("the other message was expunged")
	}
}
