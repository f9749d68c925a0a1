package main

import (
	"os"
	"runtime/debug"
	"testing"
)

func TestSetMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	t.Run("cache, structures and headroom", func(t *testing.T) {
		t.Setenv("GOMEMLIMIT", "") // restored after the test
		os.Unsetenv("GOMEMLIMIT")
		const want = 256<<20 + 32<<20 + memoryHeadroom // cache, structures, the rest
		if got := setMemoryLimit(256 << 20); got != want {
			t.Errorf("limit = %d, want %d", got, want)
		}
		if got := debug.SetMemoryLimit(-1); got != want {
			t.Errorf("runtime limit = %d, want %d", got, want)
		}
	})
	t.Run("GOMEMLIMIT wins", func(t *testing.T) {
		t.Setenv("GOMEMLIMIT", "1GiB")
		debug.SetMemoryLimit(1 << 30) // what the runtime read from it at start
		if got := setMemoryLimit(256 << 20); got != 1<<30 {
			t.Errorf("limit = %d with GOMEMLIMIT=1GiB", got)
		}
	})
}
