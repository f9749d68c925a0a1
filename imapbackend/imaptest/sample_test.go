package imaptest

import (
	"bytes"
	"encoding/base64"
	"io"
	"io/fs"
	"net/mail"
	"os"
	"slices"
	"strings"
	"testing"
)

// The sample mail is shared by the whole project; these tests guard the
// properties other packages' tests rely on.

func TestSampleMailFiles(t *testing.T) {
	want := []string{
		"INBOX/01-plain.eml",
		"INBOX/02-alternative-attachment.eml",
		"INBOX/03-forwarded.eml",
		"INBOX/04-latin1.eml",
		"INBOX/05-big5.eml",
		"INBOX/06-base64-text.eml",
		"INBOX/07-nested.eml",
		"Work/01-meeting.eml",
		"Work/Projects/01-status.eml",
		"Work/Projects/02-broken.eml",
		"Archive/2025/01-old.eml",
	}
	var got []string
	err := fs.WalkDir(sampleMail, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		got = append(got, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("sample mail files:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, p := range got {
		raw, err := fs.ReadFile(sampleMail, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) >= 30<<10 {
			t.Errorf("%s: %d bytes, want < 30 KiB", p, len(raw))
		}
		m, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		for _, h := range []string{"From", "To", "Date", "Subject", "Message-Id", "Mime-Version"} {
			if m.Header.Get(h) == "" {
				t.Errorf("%s: no %s header", p, h)
			}
		}
		if _, err := m.Header.Date(); err != nil {
			t.Errorf("%s: Date: %v", p, err)
		}
	}
}

func TestSampleMailUniqueWord(t *testing.T) {
	word := "zanzibar" + "quokka" // split so that grepping the repository finds only the data
	err := fs.WalkDir(os.DirFS("../../testdata"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := fs.ReadFile(os.DirFS("../../testdata"), p)
		if err != nil {
			return err
		}
		if bytes.Contains(bytes.ToLower(raw), []byte(word)) {
			t.Errorf("testdata/%s contains the search word in clear text", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	raw, err := fs.ReadFile(sampleMail, "INBOX/06-base64-text.eml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if cte := m.Header.Get("Content-Transfer-Encoding"); cte != "base64" {
		t.Fatalf("Content-Transfer-Encoding %q, want base64", cte)
	}
	encoded, err := io.ReadAll(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(encoded)), ""))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(body, []byte(word)) {
		t.Errorf("decoded body lacks the search word:\n%s", body)
	}
}
