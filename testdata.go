// Package imapfs holds the sample mail shipped with imapfs (used by `imapfs demo` and by tests).
package imapfs

import "embed"

// SampleMail is the sample mail tree: testdata/mail/<mailbox path>/<message>.eml.
//
//go:embed testdata/mail
var SampleMail embed.FS
