package fs

import "testing"

// The kernel's read-ahead has reads of 256 KiB in flight a few at a
// time: one that arrives two chunks behind the last is no seek, or the
// windows would start over at their smallest in the middle of a cp.
func TestReadsOutOfOrderAreInOrder(t *testing.T) {
	next := int64(80 * chunkSize)
	for _, c := range []struct {
		off  int64
		want bool
	}{
		{next, true},
		{next - 2*chunkSize, true},
		{next + chunkSize, true},
		{next + 64*chunkSize, false},
		{0, false},
	} {
		if got := inOrder(c.off, next); got != c.want {
			t.Errorf("inOrder(%d, %d) = %v, want %v", c.off, next, got, c.want)
		}
	}
}
