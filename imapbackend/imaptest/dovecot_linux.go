package imaptest

import "syscall"

// sysProcAttr makes the kernel kill Dovecot's master when the process that
// started it dies, so that a test binary killed by a timeout or a panic does
// not leave Dovecots behind. The master's own children notice its death and
// exit.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
