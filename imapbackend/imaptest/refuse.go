package imaptest

import (
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// The commands of a memory server session that MemoryOptions.Refuse may
// answer instead of imapmemserver.

func (s *extraSession) refused(command, mailbox string) error {
	if s.refuse == nil {
		return nil
	}
	return s.refuse(command, mailbox)
}

func (s *extraSession) Select(mailbox string, options *imap.SelectOptions) (*imap.SelectData, error) {
	data, err := s.UserSession.Select(mailbox, options)
	if err == nil {
		s.selected = mailbox
	}
	return data, err
}

func (s *extraSession) Create(mailbox string, options *imap.CreateOptions) error {
	if err := s.refused("CREATE", mailbox); err != nil {
		return err
	}
	return s.UserSession.Create(mailbox, options)
}

func (s *extraSession) Delete(mailbox string) error {
	if err := s.refused("DELETE", mailbox); err != nil {
		return err
	}
	return s.UserSession.Delete(mailbox)
}

func (s *extraSession) Rename(mailbox, newName string, options *imap.RenameOptions) error {
	if err := s.refused("RENAME", mailbox); err != nil {
		return err
	}
	return s.UserSession.Rename(mailbox, newName, options)
}

// Append is refused after the literal is read, as most servers do once
// they know the size (imapserver discards what is left unread).
func (s *extraSession) Append(mailbox string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	if err := s.refused("APPEND", mailbox); err != nil {
		return nil, err
	}
	return s.UserSession.Append(mailbox, r, options)
}

func (s *extraSession) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) error {
	if err := s.refused("STORE", s.selected); err != nil {
		return err
	}
	return s.UserSession.Store(w, numSet, flags, options)
}

func (s *extraSession) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	if err := s.refused("COPY", dest); err != nil {
		return nil, err
	}
	return s.UserSession.Copy(numSet, dest)
}

func (s *extraSession) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	if err := s.refused("MOVE", dest); err != nil {
		return err
	}
	return s.UserSession.Move(w, numSet, dest)
}
