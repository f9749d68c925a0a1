package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// TestStatus reads MOUNT/.imapfs/status through `imapfs status`: it names
// the server without the password, and its counters move with reads.
func TestStatus(t *testing.T) {
	imaptest.RequireFUSE(t)
	srv := seededMemory(t)
	dir := mountDir(t)
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte(srv.Password+"\n"), 0o600)
	p := start(t, env(), "", []string{dir}, "mount", "--password-file", pwFile, insecureURL(srv), dir)
	p.waitMounted(dir)

	hits := func(status string) int {
		m := regexp.MustCompile(`\((\d+) hits`).FindStringSubmatch(status)
		if m == nil {
			t.Fatalf("status has no hit count:\n%s", status)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	first := runImapfs(t, env(), "", "status", dir)
	if first.code != 0 {
		t.Fatalf("imapfs status: %d %s", first.code, first.stderr)
	}
	for _, want := range []string{"server:       imap+insecure://user@", "capabilities: ", "IMAP4rev1", "connections:  ", "cache:        ", "traffic:      ", "errors:       0"} {
		if !strings.Contains(first.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, first.stdout)
		}
	}
	if strings.Contains(first.stdout, srv.Password) {
		t.Errorf("status shows the password:\n%s", first.stdout)
	}
	for i := 0; i < 2; i++ {
		if _, err := os.ReadFile(filepath.Join(dir, "INBOX", "2", "attachments", "invoice-2026-11.pdf")); err != nil {
			t.Fatal(err)
		}
	}
	second := runImapfs(t, env(), "", "status", dir)
	if hits(second.stdout) <= hits(first.stdout) {
		t.Errorf("cache hits did not move after reads:\n%s\n%s", first.stdout, second.stdout)
	}
	if second.stdout == first.stdout {
		t.Error("status unchanged after reads")
	}
	// SIGHUP drops the caches, as rclone mount's does.
	p.signal(syscall.SIGHUP)
	entries := regexp.MustCompile(`in (\d+) entries`)
	var third string
	for i := 0; i < 50; i++ {
		third = runImapfs(t, env(), "", "status", dir).stdout
		if m := entries.FindStringSubmatch(third); m != nil && m[1] == "0" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if m := entries.FindStringSubmatch(third); m == nil || m[1] != "0" {
		t.Errorf("cache not emptied by SIGHUP:\n%s", third)
	}
	if r := runImapfs(t, env(), "", "status", t.TempDir()); r.code == 0 || !strings.Contains(r.stderr, "not an imapfs mount") {
		t.Errorf("status of a plain directory: %d %q", r.code, r.stderr)
	}
	p.stopAndCheck(syscall.SIGTERM, dir)
}
