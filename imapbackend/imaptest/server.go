// Package imaptest starts IMAP servers on loopback for tests and demos, in the
// spirit of net/http/httptest.
//
// Two kinds of server are available: an in-process memory server
// (go-imap's imapmemserver, always available and fast) and a real Dovecot
// started as a child process (slower, but it behaves like the servers users
// actually mount). Both listen on 127.0.0.1 with plain IMAP and a single
// user. Seed fills a server from a tree of .eml files such as
// imapfs.SampleMail, and Proxy counts the commands a client sends so that
// tests can assert how many round trips an operation costs.
package imaptest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/imapfs/imapfs/imapbackend"
)

// Server is an IMAP server listening on loopback for the duration of a test or demo.
type Server struct {
	Addr      string // "127.0.0.1:PORT", plain IMAP, no TLS
	Username  string
	Password  string
	Delimiter rune   // hierarchy delimiter the server uses
	Kind      string // "memory" or "dovecot"

	dir       string       // temporary directory removed by Close, if any
	stop      func() error // releases the server's resources; called once
	closeOnce sync.Once
	closeErr  error
}

// Close stops the server and removes its temporary files. It is safe to call
// more than once; later calls return the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.stop != nil {
			s.closeErr = s.stop()
		}
	})
	return s.closeErr
}

// Dial returns a new client connected over plain TCP and logged in. Tests use
// it to look at the server independently of the code under test; the caller
// closes it.
func (s *Server) Dial() (*imapclient.Client, error) {
	c, err := imapclient.DialInsecure(s.Addr, nil)
	if err != nil {
		return nil, fmt.Errorf("imaptest: dial %s server at %s: %w", s.Kind, s.Addr, err)
	}
	if err := c.Login(s.Username, s.Password).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("imaptest: login to %s server at %s: %w", s.Kind, s.Addr, err)
	}
	return c, nil
}

// Create creates mailbox and, first, each of its parents. Mailboxes that
// already exist are not an error.
func (s *Server) Create(mailbox string) error {
	c, err := s.Dial()
	if err != nil {
		return err
	}
	defer logout(c)
	return s.create(c, mailbox)
}

// Append appends msg to mailbox, creating the mailbox if it does not exist,
// and returns the new message's UID. Line endings in msg are normalised to
// CRLF first, as IMAP requires. A zero date lets the server pick the
// INTERNALDATE.
func (s *Server) Append(mailbox string, msg []byte, flags []imap.Flag, date time.Time) (imap.UID, error) {
	c, err := s.Dial()
	if err != nil {
		return 0, err
	}
	defer logout(c)
	return s.append(c, mailbox, msg, flags, date)
}

func logout(c *imapclient.Client) {
	// The server may already have dropped the connection; there is nothing
	// useful to do with an error here.
	_ = c.Logout().Wait()
	_ = c.Close()
}

func (s *Server) create(c *imapclient.Client, mailbox string) error {
	delim := string(s.Delimiter)
	parts := strings.Split(strings.TrimSuffix(mailbox, delim), delim)
	for i := range parts {
		name := strings.Join(parts[:i+1], delim)
		if err := createOne(c, name); err != nil {
			return fmt.Errorf("imaptest: create %q: %w", name, err)
		}
	}
	return nil
}

func createOne(c *imapclient.Client, name string) error {
	err := c.Create(name, nil).Wait()
	if err == nil {
		return nil
	}
	var imapErr *imap.Error
	if errors.As(err, &imapErr) && imapErr.Code == imap.ResponseCodeAlreadyExists {
		return nil
	}
	// Not every server sends ALREADYEXISTS (it is RFC 5530, not RFC 3501), so
	// check whether the mailbox is there before giving up.
	if l, listErr := c.List("", name, nil).Collect(); listErr == nil && len(l) > 0 {
		return nil
	}
	return err
}

func (s *Server) append(c *imapclient.Client, mailbox string, msg []byte, flags []imap.Flag, date time.Time) (imap.UID, error) {
	msg = NormalizeCRLF(msg)
	uid, err := appendOnce(c, mailbox, msg, flags, date)
	var imapErr *imap.Error
	if errors.As(err, &imapErr) && imapErr.Code == imap.ResponseCodeTryCreate {
		if err := s.create(c, mailbox); err != nil {
			return 0, err
		}
		uid, err = appendOnce(c, mailbox, msg, flags, date)
	}
	if err != nil {
		return 0, fmt.Errorf("imaptest: append to %q: %w", mailbox, err)
	}
	return uid, nil
}

func appendOnce(c *imapclient.Client, mailbox string, msg []byte, flags []imap.Flag, date time.Time) (imap.UID, error) {
	cmd := c.Append(mailbox, int64(len(msg)), &imap.AppendOptions{Flags: flags, Time: date})
	if _, err := cmd.Write(msg); err != nil {
		cmd.Close()
		return 0, err
	}
	if err := cmd.Close(); err != nil {
		return 0, err
	}
	data, err := cmd.Wait()
	if err != nil {
		return 0, err
	}
	if data.UID != 0 {
		return data.UID, nil
	}
	// No APPENDUID (server without UIDPLUS): the message just appended is
	// the one with the highest UID, as long as nobody else appends at the
	// same time, which holds for a test server.
	return highestUID(c, mailbox)
}

// highestUID returns the highest UID in mailbox, selecting it read-only.
func highestUID(c *imapclient.Client, mailbox string) (imap.UID, error) {
	if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return 0, fmt.Errorf("examine %q: %w", mailbox, err)
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		return 0, fmt.Errorf("uid search %q: %w", mailbox, err)
	}
	var highest imap.UID
	for _, uid := range data.AllUIDs() {
		highest = max(highest, uid)
	}
	if highest == 0 {
		return 0, fmt.Errorf("uid search %q: mailbox is empty after append", mailbox)
	}
	return highest, nil
}

// NormalizeCRLF returns b with every bare LF and bare CR turned into CRLF,
// the form Append stores. Tests compare fetched messages against it.
func NormalizeCRLF(b []byte) []byte { return imapbackend.NormalizeCRLF(b) }
