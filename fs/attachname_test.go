package fs

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/imapfs/imapfs/imapbackend"
)

func TestSafeFileName(t *testing.T) {
	tests := map[string]string{
		"invoice.pdf":          "invoice.pdf",
		"résumé.pdf":           "résumé.pdf",
		"../../etc/passwd":     "passwd",
		`a/b\c.txt`:            "c.txt",
		".bashrc":              "bashrc",
		"..":                   "",
		".":                    "",
		"bell\x07\x00name.txt": "bellname.txt",
		"bad\xffutf8.txt":      "bad_utf8.txt",
		"  spaced.doc  ":       "spaced.doc",
		"dir/":                 "",
	}
	for in, want := range tests {
		if got := safeFileName(in); got != want {
			t.Errorf("safeFileName(%q) = %q, want %q", in, got, want)
		}
	}
	long := strings.Repeat("é", 200) + ".pdf"
	got := safeFileName(long)
	if len(got) > 255 || !utf8.ValidString(got) || !strings.HasSuffix(got, ".pdf") {
		t.Errorf("long name: %d bytes, valid %v, %q...", len(got), utf8.ValidString(got), got[len(got)-10:])
	}
}

func TestAttachmentNames(t *testing.T) {
	parts := []imapbackend.Part{
		{Section: "1.1", MediaType: "text/plain"},
		{Section: "1.2", MediaType: "text/html"},
		{Section: "2", MediaType: "application/pdf", Disposition: "attachment", Filename: "report.pdf"},
		{Section: "3", MediaType: "application/pdf", Disposition: "attachment", Filename: "report.pdf"},
		{Section: "4", MediaType: "image/png"},
		{Section: "5", MediaType: "text/csv", Disposition: "attachment", Filename: "../data.csv"},
		{Section: "6", MediaType: "message/rfc822"},
		{Section: "6.1", MediaType: "text/plain"},
		{Section: "6.2", MediaType: "application/pdf", Filename: "report.pdf"},
	}
	var got []string
	for _, a := range attachmentNames(parts) {
		got = append(got, a.name+"="+a.part.Section)
	}
	want := "report.pdf=2 report (2).pdf=3 part-4.png=4 data.csv=5 report (3).pdf=6.2"
	if strings.Join(got, " ") != want {
		t.Errorf("attachmentNames = %q, want %q", strings.Join(got, " "), want)
	}
	if n := attachmentNames(parts[:2]); len(n) != 0 {
		t.Errorf("a text-only message has attachments %v", n)
	}
}
