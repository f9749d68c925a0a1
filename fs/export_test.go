package fs

// AttachmentNamings is how many messages have had their attachments
// named (see attachname.go), for the end-to-end tests.
func AttachmentNamings() int64 { return attachmentNamings.Load() }

// PushesShown reports whether mailbox's IDLE has shown that it reports
// changes as they happen, so that its listing is trusted while IDLE is up.
func (f *FS) PushesShown(mailbox string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pushes[mailbox]
}
