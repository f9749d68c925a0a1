package fs

import (
	"strconv"
	"strings"
	"testing"
	"unicode"
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
	for _, a := range attachmentNames(parts).list {
		got = append(got, a.name+"="+a.part.Section)
	}
	want := "report.pdf=2 report (2).pdf=3 part-4.png=4 data.csv=5 report (3).pdf=6.2"
	if strings.Join(got, " ") != want {
		t.Errorf("attachmentNames = %q, want %q", strings.Join(got, " "), want)
	}
	if n := attachmentNames(parts[:2]); len(n.list) != 0 {
		t.Errorf("a text-only message has attachments %v", n.list)
	}
}

// TestSafeFileNameHostile: names that would hide a file, escape it, or
// show it as something else on a terminal (issue 15, case 6).
func TestSafeFileNameHostile(t *testing.T) {
	tests := map[string]string{
		". .":               "",
		". ..":              "",
		". .bashrc":         "bashrc",
		" . . .profile ":    "profile",
		"\u2066..\u2069":    "",
		"\u200b.hidden":     "hidden",
		"evil\u202egpj.exe": "evilgpj.exe",
		"zero\u200b\u200c\u200d\u2060\ufeffw.txt":                     "zerow.txt",
		"\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u2067\u2068a.pdf": "a.pdf",
		"line\u2028para\u2029.txt":                                    "linepara.txt",
		"tab\tnew\nline\r.txt":                                        "tabnewline.txt",
		"c1\u0085\u009b.txt":                                          "c1.txt",
		"a/\u202e/..":                                                 "",
		`x\. .y`:                                                      "y",
	}
	for in, want := range tests {
		if got := safeFileName(in); got != want {
			t.Errorf("safeFileName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestUniqueLongNames: duplicates of names at the length limit get their
// " (2)" inside 255 bytes, cut on a rune boundary, without a panic (issue
// 15, case 4).
func TestUniqueLongNames(t *testing.T) {
	ascii := "a." + strings.Repeat("x", 252)     // an "extension" of 253 bytes
	utf := "a." + strings.Repeat("é", 126)       // 254 bytes, 2-byte runes
	withExt := strings.Repeat("y", 251) + ".pdf" // 255 bytes, a real extension
	odd := "b" + strings.Repeat("€", 84) + ".x"  // 255 bytes, 3-byte runes
	var parts []imapbackend.Part
	for i, name := range []string{ascii, ascii, ascii, utf, utf, withExt, withExt, odd, odd} {
		parts = append(parts, imapbackend.Part{Section: strconv.Itoa(i + 1), MediaType: "application/octet-stream", Disposition: "attachment", Filename: name})
	}
	want := []string{
		ascii, ascii[:251] + " (2)", ascii[:251] + " (3)",
		utf, utf[:250] + " (2)",
		withExt, strings.Repeat("y", 247) + " (2).pdf",
		odd, "b" + strings.Repeat("€", 82) + " (2).x",
	}
	x := attachmentNames(parts)
	checkAttachmentNames(t, parts, x)
	for i, a := range x.list {
		if a.name != want[i] {
			t.Errorf("name %d = %q (%d bytes), want %q", i, a.name, len(a.name), want[i])
		}
	}
}

// TestUniqueIsLinear: a message of many same names, and of long names
// that shorten alike, costs about one try per name, not one per earlier
// name (issue 15, case 5).
func TestUniqueIsLinear(t *testing.T) {
	u := uniquer{taken: make(map[string]bool), next: make(map[string]int)}
	names := 0
	add := func(name string) {
		names++
		u.unique(name)
	}
	// Names that look like the ones unique makes are taken first.
	for i := 2; i < 50; i++ {
		add("report (" + strconv.Itoa(i) + ").pdf")
	}
	for i := 0; i < 5000; i++ {
		add("report.pdf")
	}
	long := strings.Repeat("z", 250)
	for i := 0; i < 500; i++ {
		for _, end := range []string{"a", "b", "c", "d"} {
			add(long + end + ".txt")
		}
	}
	if len(u.taken) != names {
		t.Fatalf("%d names handed out for %d asked", len(u.taken), names)
	}
	if u.tries > 2*names {
		t.Errorf("%d tries for %d names: naming is not linear", u.tries, names)
	}
}

// checkAttachmentNames checks what every attachments/ listing must hold,
// whatever the parts: one file per attachment part in part order, names
// unique, valid UTF-8, 1 to 255 bytes, no '/' or NUL, never "." or ".."
// nor a leading dot or space, and no control, bidi or zero-width
// character.
func checkAttachmentNames(t *testing.T, parts []imapbackend.Part, x *attachmentIndex) {
	t.Helper()
	var want []*imapbackend.Part
	for i := range parts {
		if parts[i].Disposition == "attachment" || !strings.HasPrefix(parts[i].MediaType, "text/") {
			want = append(want, &parts[i])
		}
	}
	if len(want) > maxAttachments {
		want = want[:maxAttachments]
	}
	if len(x.list) != len(want) || len(x.byName) != len(want) {
		t.Fatalf("%d names, %d by name, for %d attachment parts", len(x.list), len(x.byName), len(want))
	}
	for i, a := range x.list {
		if a.part != want[i] {
			t.Errorf("name %d %q is for part %s, want %s", i, a.name, a.part.Section, want[i].Section)
		}
		if x.byName[a.name] != a.part {
			t.Errorf("name %q: lookup finds another part (names not unique)", a.name)
		}
		switch {
		case !utf8.ValidString(a.name):
			t.Errorf("name %q: invalid UTF-8", a.name)
		case len(a.name) == 0 || len(a.name) > 255:
			t.Errorf("name %q: %d bytes", a.name, len(a.name))
		case a.name == "." || a.name == "..":
			t.Errorf("name %q", a.name)
		case strings.ContainsAny(a.name, "/\x00"):
			t.Errorf("name %q holds / or NUL", a.name)
		case strings.HasPrefix(a.name, ".") || strings.TrimLeftFunc(a.name, unicode.IsSpace) != a.name:
			t.Errorf("name %q starts with a dot or a space", a.name)
		}
		for _, r := range a.name {
			if forbiddenInName(r) {
				t.Errorf("name %q holds %U", a.name, r)
			}
		}
	}
}

// forbiddenInName lists the characters of issue 15 by hand, apart from
// the code that drops them.
func forbiddenInName(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r < 0xa0:
		return true
	case r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x061c:
		return true // bidi
	case r >= 0x200b && r <= 0x200d, r == 0x2060, r == 0xfeff:
		return true // zero width
	}
	return false
}

// FuzzAttachmentNames names fuzzed file names (split at 0xff, a byte
// never in UTF-8), each sent `copies` times, beside a text part that must
// not be named, and checks checkAttachmentNames' properties.
func FuzzAttachmentNames(f *testing.F) {
	for _, seed := range []string{
		"a." + strings.Repeat("x", 252),
		"a." + strings.Repeat("é", 126),
		". .\xff. ..\xff. .bashrc\xff.\xff..",
		"evil\u202egpj.exe\xffzero\u200bwidth\ufeff.txt\xff\u2066..\u2069",
		"report.pdf\xffreport (2).pdf\xffreport.pdf",
		strings.Repeat("€", 90) + ".x\xff" + strings.Repeat("€", 90) + ".y",
		"../../etc/passwd\xff" + `a\b\..` + "\xff \t \xff",
		"",
	} {
		f.Add(seed, uint8(2), "application/pdf")
	}
	f.Fuzz(func(t *testing.T, names string, copies uint8, mediaType string) {
		parts := []imapbackend.Part{{Section: "1", MediaType: "text/plain"}}
		for c := 0; c <= int(copies%8); c++ {
			for i, name := range strings.Split(names, "\xff") {
				disposition := "attachment"
				if i%2 == 1 {
					disposition = "" // named by its type when not text
				}
				parts = append(parts, imapbackend.Part{Section: strconv.Itoa(len(parts) + 1), MediaType: mediaType, Disposition: disposition, Filename: name})
			}
		}
		checkAttachmentNames(t, parts, attachmentNames(parts))
	})
}

// TestAttachmentNamesBounded: a message of more parts than attachments/
// lists names the first maxAttachments, in part order.
func TestAttachmentNamesBounded(t *testing.T) {
	parts := make([]imapbackend.Part, maxAttachments+5)
	for i := range parts {
		parts[i] = imapbackend.Part{Section: strconv.Itoa(i + 1), MediaType: "image/png", Filename: "x.png"}
	}
	x := attachmentNames(parts)
	checkAttachmentNames(t, parts, x)
	if last := x.list[len(x.list)-1].name; last != "x ("+strconv.Itoa(maxAttachments)+").png" {
		t.Errorf("last name %q", last)
	}
}
