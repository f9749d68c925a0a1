package imaptest

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/mail"
	"path"
	"strings"
	"time"
)

// Seed appends every *.eml file found under root in fsys. The directory of a
// file, relative to root and with '/' separators, is the mailbox path; it is
// converted to the server's Delimiter. Files directly in root go to INBOX.
// Every directory becomes a mailbox, even an empty one. Files are appended
// in lexical order (the order of fs.WalkDir), so UIDs follow file names;
// the INTERNALDATE is the message's Date header, or now if it has none that
// parses. No flags are set.
func (s *Server) Seed(fsys fs.FS, root string) error {
	c, err := s.Dial()
	if err != nil {
		return err
	}
	defer logout(c)

	return fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("imaptest: seed: %w", err)
		}
		rel := relPath(root, p)
		if d.IsDir() {
			if rel == "." {
				return nil
			}
			mailbox, err := s.mailboxName(rel)
			if err != nil {
				return err
			}
			return s.create(c, mailbox)
		}
		if path.Ext(p) != ".eml" {
			return nil
		}
		mailbox := "INBOX"
		if dir := path.Dir(rel); dir != "." {
			if mailbox, err = s.mailboxName(dir); err != nil {
				return err
			}
		}
		msg, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("imaptest: seed: %w", err)
		}
		if _, err := s.append(c, mailbox, msg, nil, messageDate(msg)); err != nil {
			return fmt.Errorf("imaptest: seed %s: %w", p, err)
		}
		return nil
	})
}

// relPath returns p relative to root; both are fs.FS paths and p is root or
// below it, as fs.WalkDir guarantees.
func relPath(root, p string) string {
	switch {
	case p == root:
		return "."
	case root == ".":
		return p
	default:
		return strings.TrimPrefix(p, root+"/")
	}
}

// mailboxName converts a slash-separated directory path into a mailbox name
// using the server's hierarchy delimiter.
func (s *Server) mailboxName(dir string) (string, error) {
	delim := string(s.Delimiter)
	if s.Delimiter != '/' && strings.Contains(dir, delim) {
		// "v1.2" would silently become two levels on a '.' server.
		return "", fmt.Errorf("imaptest: seed: directory %q contains the server's hierarchy delimiter %q", dir, delim)
	}
	return strings.ReplaceAll(dir, "/", delim), nil
}

// messageDate returns the Date header of msg, or now if it is missing or
// does not parse.
func messageDate(msg []byte) time.Time {
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		return time.Now()
	}
	date, err := m.Header.Date()
	if err != nil {
		return time.Now()
	}
	return date
}
