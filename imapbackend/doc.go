// Package imapbackend is everything in imapfs that speaks IMAP: parsing the
// account URL, dialling and logging in, a small pool of connections with
// their selected-mailbox state, folder snapshots, BODYSTRUCTURE and section
// fetches. It never imports the FUSE side; the fs package reaches it through
// an interface of its own.
//
// Every fetch uses BODY.PEEK, so reading through imapfs never sets \Seen.
package imapbackend
