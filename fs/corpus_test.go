package fs_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// corpusDir is the folder of real-world and malformed MIME messages that
// .ci/run points IMAPFS_MIME_CORPUS at (../shared/corpus/enmime).
func corpusDir(t *testing.T) string {
	dir := os.Getenv("IMAPFS_MIME_CORPUS")
	if dir == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("IMAPFS_MIME_CORPUS is not set: .ci/run sets it to ../shared/corpus/enmime")
		}
		t.Skip("IMAPFS_MIME_CORPUS is not set (point it at shared/corpus/enmime)")
	}
	return dir
}

// TestCorpusReadsInFull appends every message of the MIME corpus to a
// server, mounts it, and reads every file of every message: nothing may
// fail, panic or hang, whatever the MIME looks like.
func TestCorpusReadsInFull(t *testing.T) {
	dir := corpusDir(t)
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".raw") {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) < 50 {
		t.Fatalf("corpus %s: %d messages, %v", dir, len(files), err)
	}
	sort.Strings(files)
	// Dovecot only: go-imap's in-memory server itself panics on some of
	// these messages (BODYSTRUCTURE of a multipart without children) and
	// drops the connection, which tests the server, not imapfs.
	for _, kind := range []string{"dovecot"} {
		t.Run(kind, func(t *testing.T) {
			srv := imaptest.NewDovecot(t, imaptest.DovecotOptions{Delimiter: '/'})
			for _, f := range files {
				raw, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := srv.Append("Corpus", raw, nil, time.Now()); err != nil {
					t.Fatalf("append %s: %v", f, err)
				}
			}
			m := mountServer(t, srv)
			corpus := filepath.Join(m.dir, "Corpus")
			msgs := lines(run(t, "ls", corpus))
			if len(msgs) != len(files) {
				t.Fatalf("ls Corpus lists %d messages, %d were appended", len(msgs), len(files))
			}
			read := 0
			for _, uid := range msgs {
				msgDir := filepath.Join(corpus, uid)
				files := lines(run(t, "find", msgDir, "-type", "f"))
				if len(files) < 3 {
					t.Errorf("%s holds %v, want at least HEADER, TEXT and message.eml", msgDir, files)
				}
				// Every file's stat size, before it is first read, is what
				// a read gives.
				checkSizes(t, msgDir)
				for _, f := range files {
					readWithin(t, f, 30*time.Second)
					read++
				}
			}
			// And through a real tool, all at once.
			run(t, "find", corpus, "-type", "f", "-exec", "cat", "{}", "+")
			t.Logf("%d messages, %d files read in full", len(msgs), read)
		})
	}
}

// readWithin reads a file with cat and fails the test if that errs or
// takes longer than limit (a hang would otherwise stall the whole suite).
func readWithin(t *testing.T, path string, limit time.Duration) {
	t.Helper()
	cmd := exec.Command("cat", path)
	cmd.Stdout = nil
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("cat %s: %v: %s", path, err, stderr.String())
		}
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Errorf("cat %s did not finish within %v", path, limit)
	}
}
