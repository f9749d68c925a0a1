package fs

import (
	"bytes"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePagesAdvisable reports whether the kernel gives huge pages to memory
// that asks for them: transparent huge pages are "always" or "madvise",
// not "never".
var hugePagesAdvisable = sync.OnceValue(func() bool {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	return err == nil && !bytes.Contains(mode, []byte("[never]"))
})

// adviseHugePages returns the part of b that is aligned to huge pages,
// after asking the kernel to back it with them (MADV_HUGEPAGE); nil when
// the kernel refuses. b must not have been written to yet: pages already
// there stay small.
func adviseHugePages(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	from := (start + hugePageSize - 1) &^ (hugePageSize - 1)
	to := (start + uintptr(len(b))) &^ (hugePageSize - 1)
	if to <= from {
		return nil
	}
	aligned := b[from-start : to-start]
	if err := unix.Madvise(aligned, unix.MADV_HUGEPAGE); err != nil {
		return nil
	}
	return aligned
}
