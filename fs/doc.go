// Package fs holds the go-fuse node types of imapfs: the root, one
// directory per mailbox, one directory per message named by its UID, and
// one file per section (HEADER, TEXT and each leaf MIME part). It speaks no
// IMAP itself; everything it knows of the server comes through Backend.
//
// Nodes are small and hold little state: what a folder lists comes from a
// snapshot kept by FS, what a file holds comes from the byte-bounded cache,
// so the kernel may forget nodes at will.
package fs
