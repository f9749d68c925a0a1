package fs

// AttachmentNamings is how many messages have had their attachments
// named (see attachname.go), for the end-to-end tests.
func AttachmentNamings() int64 { return attachmentNamings.Load() }
