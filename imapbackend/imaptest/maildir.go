package imaptest

import "path/filepath"

// MailDir returns the maildir a Dovecot server keeps its mail in, or ""
// for a memory server. With the '/' delimiter it has LAYOUT=fs: mailbox
// A/B is MailDir()/A/B, each with cur, new and tmp. Benchmarks write
// messages there directly, which is far quicker than APPEND; files must
// belong to the owner of the directory above it (Dovecot's mail user).
func (s *Server) MailDir() string {
	if s.Kind != "dovecot" || s.dir == "" {
		return ""
	}
	return filepath.Join(s.dir, "home", dovecotUser, "Maildir")
}
