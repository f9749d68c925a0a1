package fs

import (
	"context"
	"errors"
	"syscall"

	"github.com/emersion/go-imap/v2"

	"github.com/imapfs/imapfs/imapbackend"
)

// errno maps a backend error to what the calling program sees, and logs it
// once: here, at the FUSE boundary, and nowhere below.
func (f *FS) errno(op string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var uv *imapbackend.UIDValidityError
	var imapErr *imap.Error
	switch {
	case errors.Is(err, imapbackend.ErrNoMessage):
		return syscall.ENOENT // expunged elsewhere: not worth a log line
	case errors.As(err, &uv):
		f.dropMailbox(uv.Mailbox)
		f.errors.note(op, err)
		f.logger.Printf("%s: %v; cached content dropped", op, err)
		return syscall.ESTALE
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.Is(err, imapbackend.ErrReadOnly):
		return syscall.EROFS
	case errors.Is(err, imapbackend.ErrOthersDeleted):
		f.errors.note(op, err)
		f.logger.Printf("%s: %v", op, err)
		return syscall.EBUSY
	case errors.As(err, &imapErr) && imapErr.Code == imap.ResponseCodeNonExistent:
		return syscall.ENOENT
	}
	f.errors.note(op, err)
	f.logger.Printf("%s: %v", op, err)
	return syscall.EIO
}
