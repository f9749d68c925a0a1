package imaptest

import (
	"bytes"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"testing/fstest"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// sampleMail is the repository's sample mail, the tree imapfs.SampleMail
// embeds.
var sampleMail = os.DirFS("../../testdata/mail")

// servers returns a constructor for every kind of server, so that each test
// runs against all of them.
func servers() map[string]func(testing.TB) *Server {
	return map[string]func(testing.TB) *Server{
		"memory":      NewMemory,
		"dovecot-fs":  func(tb testing.TB) *Server { return NewDovecot(tb, DovecotOptions{Delimiter: '/'}) },
		"dovecot-dot": func(tb testing.TB) *Server { return NewDovecot(tb, DovecotOptions{Delimiter: '.'}) },
	}
}

// requireDovecot skips the test without Dovecot, as NewDovecot does.
func requireDovecot(t *testing.T) {
	t.Helper()
	if _, err := dovecotBinary(); err != nil && os.Getenv("CI") == "" {
		t.Skip(err)
	}
}

func dial(t *testing.T, s *Server) *imapclient.Client {
	t.Helper()
	c, err := s.Dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logout(c) })
	return c
}

func TestSeedSampleMail(t *testing.T) {
	for name, start := range servers() {
		t.Run(name, func(t *testing.T) {
			// Parallel: also shows that two Dovecots can run at once.
			t.Parallel()
			s := start(t)
			if err := s.Seed(sampleMail, "."); err != nil {
				t.Fatal(err)
			}
			c := dial(t, s)
			d := string(s.Delimiter)

			list, err := c.List("", "*", nil).Collect()
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, l := range list {
				names = append(names, l.Mailbox)
				if l.Delim != s.Delimiter {
					t.Errorf("LIST %q: delimiter %q, want %q", l.Mailbox, l.Delim, s.Delimiter)
				}
			}
			for _, want := range []string{"INBOX", "Work", "Work" + d + "Projects", "Archive", "Archive" + d + "2025"} {
				if !slices.Contains(names, want) {
					t.Errorf("LIST lacks %q; got %q", want, names)
				}
			}

			checkMailbox(t, c, s.Delimiter, "INBOX", "INBOX", 7)
			checkMailbox(t, c, s.Delimiter, "Work"+d+"Projects", "Work/Projects", 2)
			checkMailbox(t, c, s.Delimiter, "Archive"+d+"2025", "Archive/2025", 1)
		})
	}
}

// checkMailbox checks that mailbox holds exactly the n files of dir, in file
// name order, byte for byte after CRLF normalisation, with the Date header
// as INTERNALDATE.
func checkMailbox(t *testing.T, c *imapclient.Client, delim rune, mailbox, dir string, n int) {
	t.Helper()
	files, err := fs.Glob(sampleMail, path.Join(dir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != n {
		t.Fatalf("%s holds %d .eml files, want %d", dir, len(files), n)
	}
	if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("EXAMINE %q: %v", mailbox, err)
	}
	search, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	uids := search.AllUIDs()
	if len(uids) != n {
		t.Fatalf("UID SEARCH ALL in %q: %d messages (%v), want %d", mailbox, len(uids), uids, n)
	}
	slices.Sort(uids)
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{
		UID:          true,
		InternalDate: true,
		BodySection:  []*imap.FetchItemBodySection{section},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(msgs, func(a, b *imapclient.FetchMessageBuffer) int { return int(a.UID) - int(b.UID) })
	if len(msgs) != n {
		t.Fatalf("UID FETCH in %q returned %d messages, want %d", mailbox, len(msgs), n)
	}
	for i, file := range files {
		raw, err := fs.ReadFile(sampleMail, file)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := msgs[i].FindBodySection(section), NormalizeCRLF(raw); !bytes.Equal(got, want) {
			t.Errorf("%s (UID %d): BODY[] is %d bytes, want the %d bytes of the CRLF-normalised file", file, msgs[i].UID, len(got), len(want))
		}
		if want := messageDate(raw); !msgs[i].InternalDate.Equal(want) {
			t.Errorf("%s: INTERNALDATE %v, want the Date header %v", file, msgs[i].InternalDate, want)
		}
	}
}

func TestAppend(t *testing.T) {
	for name, start := range servers() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := start(t)
			d := string(s.Delimiter)
			mailbox := "New" + d + "Deep" // neither exists yet
			date := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600))
			msg1 := []byte("Subject: one\nFrom: a@example.com\n\nbare LF\rbare CR\r\nCRLF\n")
			uid1, err := s.Append(mailbox, msg1, []imap.Flag{imap.FlagSeen}, date)
			if err != nil {
				t.Fatal(err)
			}
			uid2, err := s.Append(mailbox, []byte("Subject: two\n\nsecond\n"), nil, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if uid1 == 0 || uid2 <= uid1 {
				t.Fatalf("UIDs %d then %d, want increasing non-zero", uid1, uid2)
			}

			c := dial(t, s)
			if _, err := c.Select(mailbox, nil).Wait(); err != nil {
				t.Fatal(err)
			}
			// The fallback used without APPENDUID must agree.
			if got, err := highestUID(c, mailbox); err != nil || got != uid2 {
				t.Errorf("highestUID = %d, %v; want %d", got, err, uid2)
			}
			section := &imap.FetchItemBodySection{Peek: true}
			msgs, err := c.Fetch(imap.UIDSetNum(uid1), &imap.FetchOptions{
				Flags:        true,
				InternalDate: true,
				BodySection:  []*imap.FetchItemBodySection{section},
			}).Collect()
			if err != nil || len(msgs) != 1 {
				t.Fatalf("UID FETCH %d: %d messages, %v", uid1, len(msgs), err)
			}
			want := "Subject: one\r\nFrom: a@example.com\r\n\r\nbare LF\r\nbare CR\r\nCRLF\r\n"
			if got := string(msgs[0].FindBodySection(section)); got != want {
				t.Errorf("BODY[] = %q, want %q", got, want)
			}
			if !slices.Contains(msgs[0].Flags, imap.FlagSeen) {
				t.Errorf("flags %v lack \\Seen", msgs[0].Flags)
			}
			if !msgs[0].InternalDate.Equal(date) {
				t.Errorf("INTERNALDATE %v, want %v", msgs[0].InternalDate, date)
			}
		})
	}
}

func TestCreateAndSeedEmptyDirectory(t *testing.T) {
	for name, start := range servers() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := start(t)
			d := string(s.Delimiter)
			if err := s.Create("A" + d + "B" + d + "C"); err != nil {
				t.Fatal(err)
			}
			// Creating an existing mailbox (and INBOX) is not an error.
			if err := s.Create("A" + d + "B"); err != nil {
				t.Errorf("Create of an existing mailbox: %v", err)
			}
			if err := s.Create("INBOX"); err != nil {
				t.Errorf("Create INBOX: %v", err)
			}
			fsys := fstest.MapFS{
				"root/Empty/Sub":   &fstest.MapFile{Mode: fs.ModeDir | 0o755},
				"root/top.eml":     &fstest.MapFile{Data: []byte("Subject: top\nDate: nonsense\n\nbody\n")},
				"root/notmail.txt": &fstest.MapFile{Data: []byte("ignored")},
			}
			before := time.Now().Add(-time.Minute)
			if err := s.Seed(fsys, "root"); err != nil {
				t.Fatal(err)
			}

			c := dial(t, s)
			list, err := c.List("", "*", nil).Collect()
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, l := range list {
				names = append(names, l.Mailbox)
			}
			for _, want := range []string{"A", "A" + d + "B", "A" + d + "B" + d + "C", "Empty", "Empty" + d + "Sub"} {
				if !slices.Contains(names, want) {
					t.Errorf("LIST lacks %q; got %q", want, names)
				}
			}
			if slices.Contains(names, "root") {
				t.Errorf("the seed root became a mailbox: %q", names)
			}
			// top.eml, directly in root, went to INBOX with an unparseable
			// Date, hence INTERNALDATE now.
			status, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
			if err != nil {
				t.Fatal(err)
			}
			if status.NumMessages == nil || *status.NumMessages != 1 {
				t.Fatalf("INBOX STATUS %+v, want 1 message", status)
			}
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{InternalDate: true}).Collect()
			if err != nil || len(msgs) != 1 {
				t.Fatalf("FETCH 1: %d messages, %v", len(msgs), err)
			}
			if msgs[0].InternalDate.Before(before) {
				t.Errorf("INTERNALDATE %v, want about now", msgs[0].InternalDate)
			}
		})
	}
}

func TestSeedRejectsDelimiterInDirectoryName(t *testing.T) {
	s := NewDovecot(t, DovecotOptions{Delimiter: '.'})
	fsys := fstest.MapFS{"v1.2/a.eml": &fstest.MapFile{Data: []byte("Subject: a\n\nx\n")}}
	if err := s.Seed(fsys, "."); err == nil {
		t.Fatal("Seed of directory v1.2 on a '.' server succeeded, want an error")
	}
}

func TestCloseIsIdempotentAndStops(t *testing.T) {
	for name, start := range map[string]func() (*Server, error){
		"memory":  StartMemory,
		"dovecot": func() (*Server, error) { return StartDovecot(DovecotOptions{}) },
	} {
		t.Run(name, func(t *testing.T) {
			if name == "dovecot" {
				requireDovecot(t)
			}
			s, err := start()
			if err != nil {
				t.Fatal(err)
			}
			if s.Kind != name || s.Delimiter != '/' {
				t.Errorf("Kind %q Delimiter %q, want %q '/'", s.Kind, s.Delimiter, name)
			}
			if name == "dovecot" {
				if _, err := os.Stat(s.dir); err != nil {
					t.Fatalf("temp dir: %v", err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if c, err := s.Dial(); err == nil {
				c.Close()
				t.Error("Dial succeeded after Close")
			}
			if s.dir != "" {
				if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
					t.Errorf("temp dir %s still there after Close (%v)", s.dir, err)
				}
			}
		})
	}
}

func TestNormalizeCRLF(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "",
		"a\nb":             "a\r\nb",
		"a\r\nb\r\n":       "a\r\nb\r\n",
		"a\rb\r":           "a\r\nb\r\n",
		"\n\r\r\n\n":       "\r\n\r\n\r\n\r\n",
		"no line endings":  "no line endings",
		"mixed\r\r\n\n\r!": "mixed\r\n\r\n\r\n\r\n!",
	} {
		if got := string(NormalizeCRLF([]byte(in))); got != want {
			t.Errorf("NormalizeCRLF(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDovecotRetriesTakenPort(t *testing.T) {
	requireDovecot(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port

	realFreePort := freePort
	defer func() { freePort = realFreePort }()
	calls := 0
	freePort = func() (int, error) {
		calls++
		if calls == 1 {
			return takenPort, nil
		}
		return realFreePort()
	}

	s := NewDovecot(t, DovecotOptions{})
	if calls != 2 {
		t.Errorf("picked a port %d times, want 2 (taken, then free)", calls)
	}
	if s.Addr == taken.Addr().String() {
		t.Fatalf("server claims the taken address %s", s.Addr)
	}
	c := dial(t, s)
	if err := c.Noop().Wait(); err != nil {
		t.Error(err)
	}
}

func TestNewDovecotSkipsWithoutDovecot(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("CI", "")
	saved := dovecotPaths
	dovecotPaths = nil
	defer func() { dovecotPaths = saved }()

	skipped, returned := false, false
	t.Run("inner", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		NewDovecot(t, DovecotOptions{})
		returned = true
	})
	if !skipped || returned {
		t.Errorf("without dovecot: skipped=%v, NewDovecot returned=%v; want a skip", skipped, returned)
	}
}

func TestRemoveStaleDirs(t *testing.T) {
	parent := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip(err)
	}
	dirs := map[string]string{ // name -> master.pid content ("" for none)
		"dead":  strconv.Itoa(dead.Process.Pid),
		"alive": strconv.Itoa(os.Getpid()),
		"fresh": "",
	}
	for name, pid := range dirs {
		run := filepath.Join(parent, dovecotDirPrefix+name, "run")
		if err := os.MkdirAll(run, 0o755); err != nil {
			t.Fatal(err)
		}
		if pid != "" {
			if err := os.WriteFile(filepath.Join(run, "master.pid"), []byte(pid+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	other := filepath.Join(parent, "unrelated")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}

	removeStaleDirs(parent)
	for name, wantGone := range map[string]bool{dovecotDirPrefix + "dead": true, dovecotDirPrefix + "alive": false, dovecotDirPrefix + "fresh": false, "unrelated": false} {
		_, err := os.Stat(filepath.Join(parent, name))
		if gone := os.IsNotExist(err); gone != wantGone {
			t.Errorf("%s: gone=%v, want %v", name, gone, wantGone)
		}
	}
}
