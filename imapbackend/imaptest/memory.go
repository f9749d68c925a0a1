package imaptest

import (
	"testing"

	"github.com/emersion/go-imap/v2"
)

// memoryCaps are the capabilities advertised by the memory server on top of
// those imapserver always adds (SASL-IR, LITERAL-, IDLE, UNSELECT, ENABLE,
// ...). Only extensions imapmemserver really implements are listed: it
// returns APPENDUID/COPYUID, has NAMESPACE and MOVE, keeps SEARCHRES results,
// reports STATUS SIZE, LIST RETURN (STATUS) and special-use attributes, and
// serves BINARY sections. LIST-EXTENDED and CHILDREN are left out because it
// never reports \HasChildren/\HasNoChildren, which LIST-EXTENDED requires.
// IMAP4rev2 is left out so that clients talk IMAP4rev1, like most servers.
var memoryCaps = imap.CapSet{
	imap.CapIMAP4rev1:   {},
	imap.CapUIDPlus:     {},
	imap.CapNamespace:   {},
	imap.CapMove:        {},
	imap.CapESearch:     {},
	imap.CapSearchRes:   {},
	imap.CapListStatus:  {},
	imap.CapStatusSize:  {},
	imap.CapSpecialUse:  {},
	imap.CapBinary:      {},
	imap.CapLiteralPlus: {},
}

// MemoryOptions change what the memory server advertises, to test how a
// client copes with servers that lack an extension.
type MemoryOptions struct {
	// Without lists capabilities not to advertise, e.g. imap.CapUIDPlus.
	// imap.CapUnselect, which imapserver always offers, is taken out by a
	// filter in front of the server that also refuses the command.
	Without []imap.Cap
	// Refuse, when set, is asked before every CREATE, DELETE, RENAME,
	// APPEND, STORE, COPY and MOVE, with the command's name and the
	// mailbox it names (the destination of COPY and MOVE, the selected
	// one for STORE). An error it returns is the answer, unchanged: an
	// *imap.Error is sent as NO with its response code and text, as a
	// server that refuses (quota, permissions, names) sends it.
	Refuse func(command, mailbox string) error
	// SelectWithoutUIDNext drops OK [UIDNEXT] from SELECT and EXAMINE
	// answers, as Courier does: it is optional (RFC 3501 6.3.1).
	SelectWithoutUIDNext bool
	// IdleNeverPushes makes IDLE report nothing until it ends, as Courier's
	// and Cyrus's do between their 60 s polls without a notification daemon.
	IdleNeverPushes bool
}

// StartMemory starts go-imap's in-memory server on 127.0.0.1 with user
// "user", password "pass" and an empty INBOX. The hierarchy delimiter is '/'.
func StartMemory() (*Server, error) { return StartMemoryWith(MemoryOptions{}) }

// StartMemoryWith is StartMemory with options. It is StartMemoryExtra
// without TLS or OAuth: one memory server implementation serves both.
func StartMemoryWith(opts MemoryOptions) (*Server, error) {
	es, err := StartMemoryExtra(ExtraOptions{MemoryOptions: opts})
	if err != nil {
		return nil, err
	}
	return es.Server, nil
}

// NewMemory is StartMemory for tests: it fails the test on error and closes
// the server when the test ends.
func NewMemory(tb testing.TB) *Server { return NewMemoryWith(tb, MemoryOptions{}) }

// NewMemoryWith is StartMemoryWith for tests.
func NewMemoryWith(tb testing.TB, opts MemoryOptions) *Server {
	tb.Helper()
	s, err := StartMemoryWith(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}
