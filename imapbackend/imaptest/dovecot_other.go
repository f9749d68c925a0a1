//go:build !linux

package imaptest

import "syscall"

// sysProcAttr returns nil: only Linux can tie a child's life to its
// parent's, so elsewhere a killed test may leave Dovecot running.
func sysProcAttr() *syscall.SysProcAttr {
	return nil
}
