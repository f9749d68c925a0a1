package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

const demoReady = "Sample mail mounted on "

// word is in one sample message only, base64-encoded; split so that
// grepping the repository finds only the data.
const word = "zanzibar" + "quokka"

// TestDemo runs imapfs demo DIR as the README tells a new user to, and
// tries the commands it suggests.
func TestDemo(t *testing.T) {
	imaptest.RequireFUSE(t)
	dir := mountDir(t)
	p := start(t, env(), "", []string{dir}, "demo", dir)
	p.waitOutput("Press Ctrl-C")
	if !isMounted(t, dir) {
		t.Fatalf("demo said it was ready but %s is not mounted; stdout:\n%s", dir, p.stdout.String())
	}
	out := p.stdout.String()
	if !strings.HasPrefix(out, demoReady+dir) {
		t.Errorf("ready message does not name the mount point:\n%s", out)
	}
	if !strings.Contains(out, "grep -rl "+word+" "+dir+"/INBOX") {
		t.Errorf("ready message does not suggest the grep:\n%s", out)
	}

	if uids := messageDirs(t, filepath.Join(dir, "INBOX")); len(uids) != 7 {
		t.Errorf("ls INBOX: %d message directories %v, want 7", len(uids), uids)
	}
	for _, mailbox := range []string{"Archive", "Work", "Work/Projects", "INBOX"} {
		if st, err := os.Stat(filepath.Join(dir, mailbox)); err != nil || !st.IsDir() {
			t.Errorf("mailbox %s: %v", mailbox, err)
		}
	}
	header, err := os.ReadFile(filepath.Join(dir, "INBOX", "1", "HEADER"))
	if err != nil {
		t.Errorf("cat INBOX/1/HEADER: %v", err)
	} else if !strings.Contains(string(header), "Subject:") {
		t.Errorf("INBOX/1/HEADER has no Subject:\n%s", header)
	}

	grep := exec.Command("grep", "-rl", word, filepath.Join(dir, "INBOX"))
	found, err := grep.Output()
	if err != nil {
		t.Errorf("grep -rl %s: %v; output:\n%s", word, err, found)
	}
	files := strings.Fields(string(found))
	if len(files) != 1 {
		t.Errorf("grep -rl %s found %d files, want 1:\n%s", word, len(files), found)
	}

	p.stopAndCheck(syscall.SIGINT, dir)
	if s := p.stderr.String(); s != "" {
		t.Errorf("stderr: %q, want nothing", s)
	}
}

// TestDemoDefaultMountpoint runs imapfs demo without arguments: it creates
// ./mail and mounts there.
func TestDemoDefaultMountpoint(t *testing.T) {
	imaptest.RequireFUSE(t)
	wd := mountDir(t)
	mail := filepath.Join(wd, "mail")
	p := start(t, env(), wd, []string{mail}, "demo")
	p.waitOutput("Press Ctrl-C")
	if !isMounted(t, mail) {
		t.Fatalf("%s is not mounted; stdout:\n%s", mail, p.stdout.String())
	}
	if out := p.stdout.String(); !strings.HasPrefix(out, demoReady+"mail") {
		t.Errorf("ready message does not name ./mail:\n%s", out)
	}
	if uids := messageDirs(t, filepath.Join(mail, "INBOX")); len(uids) != 7 {
		t.Errorf("ls mail/INBOX: %d message directories, want 7", len(uids))
	}
	p.stopAndCheck(syscall.SIGINT, mail)
	if st, err := os.Stat(mail); err != nil || !st.IsDir() {
		t.Errorf("after the demo, ./mail: %v", err)
	}
}

// TestDemoReadOnlyFlagAfterMountpoint checks that demo takes mount's flags,
// after the mount point too.
func TestDemoReadOnlyFlagAfterMountpoint(t *testing.T) {
	imaptest.RequireFUSE(t)
	dir := mountDir(t)
	p := start(t, env(), "", []string{dir}, "demo", dir, "--read-only")
	p.waitOutput("Press Ctrl-C")
	if uids := messageDirs(t, filepath.Join(dir, "INBOX")); len(uids) != 7 {
		t.Errorf("ls INBOX: %d message directories, want 7", len(uids))
	}
	p.stopAndCheck(syscall.SIGTERM, dir)
}

// TestDemoErrors checks that demo refuses a bad mount point like mount.
func TestDemoErrors(t *testing.T) {
	dir := mountDir(t)
	if err := os.WriteFile(filepath.Join(dir, "keep.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runImapfs(t, env(), dir, "demo", dir)
	line := checkOneErrorLine(t, r)
	if r.code == 0 || !strings.Contains(line, "not empty") {
		t.Errorf("demo on a non-empty directory: exit status %d, %q", r.code, line)
	}

	r = runImapfs(t, env(), "", "demo", dir, dir)
	line = checkOneErrorLine(t, r)
	if r.code != 2 || !strings.Contains(line, "at most one") {
		t.Errorf("demo with two mount points: exit status %d, %q; want 2 and a usage error", r.code, line)
	}
}
