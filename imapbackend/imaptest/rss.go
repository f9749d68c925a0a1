package imaptest

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// PeakRSS resets the process's peak resident set (Linux: clear_refs 5)
// and returns a function that reads how far it grew since, in bytes: the
// memory a test's hostile input made the process take. Where the peak
// cannot be reset, the test is skipped.
func PeakRSS(tb testing.TB) func() int64 {
	tb.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		tb.Skipf("cannot reset the peak RSS: %v", err)
	}
	read := func() int64 {
		status, err := os.ReadFile("/proc/self/status")
		if err != nil {
			tb.Fatal(err)
		}
		for _, l := range strings.Split(string(status), "\n") {
			if f := strings.Fields(l); len(f) == 3 && f[0] == "VmHWM:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb << 10
			}
		}
		tb.Fatal("no VmHWM in /proc/self/status")
		return 0
	}
	runtime.GC()
	base := read()
	return func() int64 { return read() - base }
}
