//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// parallelLoadBound is what the imapfs process may hold beyond
// --cache-size under the load below: the Go memory limit's headroom
// (48 MiB, memlimit.go), which the huge-page chunk blocks alive at once
// (at most half the cache) and windows in flight come out of, and the
// runtime's own memory. README states it. Measured: 55-58 MiB; with blocks
// unbounded, 95 MiB in 20 s (229 MiB in 60 s in the run).
const parallelLoadBound = 80 << 20

// TestMemoryUnderParallelLoad is issue 15's case 12: eight readers at
// once, grep -r over a folder and copies of large attachments in loops,
// with --cache-size 16MiB. The mount's peak RSS stays within the cache budget
// plus parallelLoadBound (huge-page chunk blocks, which a single cached
// chunk keeps alive whole, once took it to 245 MiB).
func TestMemoryUnderParallelLoad(t *testing.T) {
	imaptest.RequireFUSE(t)
	srv := imaptest.NewMemory(t)
	rng := rand.New(rand.NewSource(12))
	for i := range 4 {
		payload := make([]byte, 24<<20+i)
		rng.Read(payload)
		if _, err := srv.Append("Big", bigMessage(payload), nil, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 300 {
		body := fmt.Sprintf("message %d %s\r\n", i, strings.Repeat("lorem ipsum ", 200+rng.Intn(2000)))
		msg := fmt.Sprintf("From: a@example.org\r\nSubject: %d\r\n\r\n%s", i, body)
		if _, err := srv.Append("Mail", []byte(msg), nil, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	dir := mountDir(t)
	p := start(t, env("IMAPFS_PASSWORD=pass"), "", []string{dir}, "mount", "--cache-size", "16MiB", insecureURL(srv), dir)
	p.waitMounted(dir)
	bigs := messageDirs(t, filepath.Join(dir, "Big"))
	if len(bigs) != 4 {
		t.Fatalf("Big holds %v, want 4 messages", bigs)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	runs := map[string]int{}
	loop := func(name string, cmd func() *exec.Cmd) {
		defer wg.Done()
		for ctx.Err() == nil {
			c := cmd()
			var stderr bytes.Buffer
			c.Stderr = &stderr
			if err := c.Run(); err != nil && ctx.Err() == nil {
				t.Errorf("%s: %v: %s", name, err, stderr.String())
				return
			}
			mu.Lock()
			runs[name]++
			mu.Unlock()
		}
	}
	for i := range 4 {
		wg.Add(2)
		go loop("grep -r", func() *exec.Cmd {
			return exec.CommandContext(ctx, "grep", "-r", "-c", "ipsum", filepath.Join(dir, "Mail"))
		})
		// Reading with O_DIRECT keeps the kernel's page cache out of it:
		// every copy is read from imapfs, and with a 16 MiB cache, fetched.
		src := filepath.Join(dir, "Big", bigs[i], "2")
		go loop("cp", func() *exec.Cmd {
			return exec.CommandContext(ctx, "dd", "if="+src, "of=/dev/null", "bs=1M", "iflag=direct", "status=none")
		})
	}
	wg.Wait()
	peak := peakOf(t, p.cmd.Process.Pid)
	t.Logf("peak RSS %.1f MiB with --cache-size 16MiB; %v", float64(peak)/(1<<20), runs)
	if runs["cp"] == 0 || runs["grep -r"] == 0 {
		t.Errorf("the load ran %v: not every reader finished once", runs)
	}
	if limit := int64(16<<20 + parallelLoadBound); peak > limit {
		t.Errorf("peak RSS %d MiB under parallel load, over --cache-size 16MiB + %d MiB", peak>>20, parallelLoadBound>>20)
	}
}

// bigMessage is a message whose part 2 is payload in base64.
func bigMessage(payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString("From: a@example.org\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n" +
		"--XX\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n" +
		"--XX\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=big.bin\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(payload)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--XX--\r\n")
	return b.Bytes()
}

// peakOf reads a process's peak resident set (VmHWM), in bytes.
func peakOf(t *testing.T, pid int) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}
