package main

import (
	"os"
	"runtime/debug"
)

// memoryHeadroom is what imapfs needs beyond its content cache and the
// read-ahead's store of structures (an eighth of the cache): chunks in
// flight, FUSE buffers, snapshots of big folders, the runtime itself.
const memoryHeadroom = 48 << 20

// setMemoryLimit makes the Go runtime collect garbage before the heap
// outgrows the cache budget plus headroom, so that the process's RSS stays
// near what it holds live instead of twice that (the default GOGC=100 lets
// the heap double before a collection: a 256 MiB cache could cost 512 MiB).
// A limit the user set with GOMEMLIMIT wins. It returns the limit in force.
func setMemoryLimit(cacheBudget int64) int64 {
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		return debug.SetMemoryLimit(-1) // -1 reads the limit without changing it
	}
	limit := cacheBudget + cacheBudget/8 + memoryHeadroom
	debug.SetMemoryLimit(limit)
	return limit
}
