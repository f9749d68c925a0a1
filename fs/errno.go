package fs

import (
	"context"
	"errors"
	"strings"
	"syscall"

	"github.com/emersion/go-imap/v2"

	"github.com/imapfs/imapfs/imapbackend"
)

// errno maps a backend error to what the calling program sees, and logs it
// once: here, at the FUSE boundary, and nowhere below.
func (f *FS) errno(op string, err error) syscall.Errno {
	errno, _ := f.report(op, err)
	return errno
}

// report is errno, and says whether the error went to the log and the
// status file: those the caller hears of and need not read about (a
// message expunged elsewhere, an interrupt) do not.
func (f *FS) report(op string, err error) (errno syscall.Errno, noted bool) {
	if err == nil {
		return 0, false
	}
	var uv *imapbackend.UIDValidityError
	var imapErr *imap.Error
	switch {
	case errors.Is(err, imapbackend.ErrNoMessage):
		return syscall.ENOENT, false // expunged elsewhere: not worth a log line
	case errors.As(err, &uv):
		f.dropMailbox(uv.Mailbox)
		f.errors.note(op, err)
		f.logger.Printf("%s: %v; cached content dropped", op, err)
		return syscall.ESTALE, true
	case errors.Is(err, context.Canceled):
		return syscall.EINTR, false
	case errors.Is(err, imapbackend.ErrReadOnly):
		return syscall.EROFS, false
	case errors.Is(err, imapbackend.ErrOthersDeleted):
		errno = syscall.EBUSY
	case errors.As(err, &imapErr):
		// The server said no: the user learns why from the errno, and
		// the log and the status file keep the server's own words.
		errno = refusalErrno(imapErr)
		f.errors.note(op, err)
		f.logger.Printf("%s: refused by the server (%v): %v", op, errno, err)
		return errno, true
	default:
		errno = syscall.EIO
	}
	f.errors.note(op, err)
	f.logger.Printf("%s: %v", op, err)
	return errno, true
}

// refusalErrno is the errno of a server's NO: from its response code
// (RFC 5530), or, for servers that send none (Courier, Cyrus), from the
// words they use; EIO when neither says more than "failed".
func refusalErrno(e *imap.Error) syscall.Errno {
	switch e.Code {
	case imap.ResponseCodeCannot:
		return syscall.EINVAL
	case imap.ResponseCodeNoPerm:
		return syscall.EACCES
	case imap.ResponseCodeOverQuota:
		return syscall.EDQUOT
	case imap.ResponseCodeNonExistent, imap.ResponseCodeTryCreate:
		return syscall.ENOENT
	case imap.ResponseCodeAlreadyExists:
		return syscall.EEXIST
	}
	text := strings.ToLower(e.Text)
	switch {
	case strings.Contains(text, "permission denied"):
		return syscall.EACCES // Cyrus: "NO Permission denied"
	case strings.Contains(text, "invalid mailbox name"), strings.Contains(text, "invalid name"):
		return syscall.EINVAL // Courier: "NO Invalid mailbox name"
	case strings.Contains(text, "doesn't exist"), strings.Contains(text, "does not exist"),
		strings.Contains(text, "no such mailbox"):
		return syscall.ENOENT // Dovecot's SELECT, Cyrus: "NO Mailbox does not exist"
	}
	return syscall.EIO
}
