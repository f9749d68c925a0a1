//go:build !linux

package fs

// Elsewhere chunks are plain allocations.
func hugePagesAdvisable() bool { return false }

func adviseHugePages(b []byte) []byte { return nil }
