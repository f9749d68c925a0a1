package imaptest

import (
	"os"
	"os/exec"
	"testing"
)

// RequireFUSE stops a test that cannot mount: it fails in CI (where the
// environment must provide FUSE) and skips elsewhere, saying what is missing.
func RequireFUSE(tb testing.TB) {
	tb.Helper()
	missing := ""
	if _, err := os.Stat("/dev/fuse"); err != nil {
		missing = "/dev/fuse is missing"
	} else if os.Geteuid() != 0 {
		if _, err := exec.LookPath("fusermount3"); err != nil {
			missing = "fusermount3 is not installed (apt-get install fuse3)"
		}
	}
	if missing == "" {
		return
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("cannot mount: %s", missing)
	}
	tb.Skipf("cannot mount: %s", missing)
}
