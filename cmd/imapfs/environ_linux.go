package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// scrubEnviron blanks name=value in the process's original environment
// block. os.Unsetenv only edits Go's copy; the kernel keeps showing the
// block the process started with in /proc/PID/environ (and ps e), so a
// password given in the environment would stay readable there for the
// whole life of the mount.
func scrubEnviron(name string) error {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces; env_start and env_end are fields 50 and 51 of the whole line.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return fmt.Errorf("unexpected /proc/self/stat")
	}
	fields := strings.Fields(string(stat[i+1:]))
	const envStart = 50 - 3 // fields[0] is field 3
	if len(fields) <= envStart+1 {
		return fmt.Errorf("/proc/self/stat has no env_start")
	}
	start, err1 := strconv.ParseInt(fields[envStart], 10, 64)
	end, err2 := strconv.ParseInt(fields[envStart+1], 10, 64)
	if err1 != nil || err2 != nil || end <= start || end-start > 1<<24 {
		return fmt.Errorf("/proc/self/stat: bad environment bounds")
	}
	mem, err := os.OpenFile("/proc/self/mem", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer mem.Close()
	block := make([]byte, end-start)
	if _, err := mem.ReadAt(block, start); err != nil {
		return err
	}
	prefix := []byte(name + "=")
	for off := 0; off < len(block); {
		n := bytes.IndexByte(block[off:], 0)
		if n < 0 {
			n = len(block) - off
		}
		if bytes.HasPrefix(block[off:off+n], prefix) {
			if _, err := mem.WriteAt(make([]byte, n), start+int64(off)); err != nil {
				return err
			}
		}
		off += n + 1
	}
	return nil
}
