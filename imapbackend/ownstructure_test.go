package imapbackend

import (
	"bytes"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// plainStructure is what a strict RFC 2045 server answers for a message
// without MIME-Version: one text/plain part, the whole TEXT.
func plainStructure(raw string) (*Structure, []byte) {
	header, text, _ := strings.Cut(raw, "\r\n\r\n")
	body := &imap.BodyStructureSinglePart{Type: "TEXT", Subtype: "PLAIN", Encoding: "7BIT", Size: uint32(len(text))}
	return &Structure{UID: 1, Body: body, Parts: LeafParts(body), Header: []byte(header + "\r\n\r\n"),
		Size: int64(len(raw))}, []byte(text)
}

func crlf(lines ...string) string { return strings.Join(lines, "\r\n") }

func TestParseStructureNumbersAsIMAP(t *testing.T) {
	raw := crlf("Subject: x", `Content-Type: multipart/mixed; boundary="B"`, "",
		"--B", "Content-Type: text/plain; charset=utf-8", "", "one",
		"--B", `Content-Type: multipart/alternative; boundary="C"`, "",
		"--C", "", "two.one", "--C", "Content-Type: text/html", "", "<p>two.two</p>", "--C--",
		"--B", `Content-Type: image/png; name="=?utf-8?q?b=C3=A9b=C3=A9.png?="`, "Content-Transfer-Encoding: base64",
		`Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.png`, "", "aGVsbG8=",
		"--B", "Content-Type: message/rfc822", "", "Subject: inner", "", "four.one",
		"--B--", "")
	st, text := plainStructure(raw)
	if !st.ClaimsMultipart() {
		t.Fatal("ClaimsMultipart = false for a multipart header under a text/plain structure")
	}
	own, ok := ParseStructure(st, text)
	if !ok {
		t.Fatal("ParseStructure failed")
	}
	if own.ClaimsMultipart() {
		t.Error("a parsed structure still claims multipart")
	}
	want := map[string]string{"1": "one", "2.1": "two.one", "2.2": "<p>two.two</p>", "3": "aGVsbG8=",
		"4": "Subject: inner\r\n\r\nfour.one", "4.1": "four.one"}
	cut := CutParts(own, text)
	var sections []string
	for _, p := range own.Parts {
		sections = append(sections, p.Section)
		if !p.Parsed {
			t.Errorf("part %s not marked Parsed", p.Section)
		}
		if got := string(cut[p.Section]); got != want[p.Section] {
			t.Errorf("part %s cut as %q, want %q", p.Section, got, want[p.Section])
		}
	}
	if got := strings.Join(sections, " "); got != "1 2.1 2.2 3 4 4.1" {
		t.Errorf("sections %q, want 1 2.1 2.2 3 4 4.1", got)
	}
	p3 := own.Parts[3]
	if p3.MediaType != "image/png" || p3.Disposition != "attachment" || p3.Filename != "résumé.png" || p3.Encoding != "base64" {
		t.Errorf("part 3 = %+v", p3)
	}
	if p := own.Parts[0]; p.Charset != "utf-8" || p.MediaType != "text/plain" {
		t.Errorf("part 1 = %+v", p)
	}
}

// A structure that does not hold what its header announces, or that the
// cutter would not cut, stays the server's; depth is bounded.
func TestParseStructureRefuses(t *testing.T) {
	for name, raw := range map[string]string{
		"no delimiter": crlf("Content-Type: multipart/mixed; boundary=B", "", "just text", ""),
		"bare LF":      "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\n\none\n--B--\n",
	} {
		st, text := plainStructure(raw)
		if _, ok := ParseStructure(st, text); ok {
			t.Errorf("%s: parsed", name)
		}
	}
	if st, _ := plainStructure(crlf("Content-Type: text/plain", "", "x")); st.ClaimsMultipart() {
		t.Error("a text/plain header claims multipart")
	}

	var b bytes.Buffer
	b.WriteString("Content-Type: multipart/mixed; boundary=b0\r\n\r\n")
	const depth = 1000
	for i := 1; i <= depth; i++ {
		b.WriteString("--b" + itoa(i-1) + "\r\nContent-Type: multipart/mixed; boundary=b" + itoa(i) + "\r\n\r\n")
	}
	b.WriteString("--b" + itoa(depth) + "\r\n\r\nleaf\r\n")
	for i := depth; i >= 0; i-- {
		b.WriteString("--b" + itoa(i) + "--\r\n")
	}
	st, text := plainStructure(b.String())
	own, ok := ParseStructure(st, text)
	if !ok || len(own.Parts) != 1 || len(own.Parts[0].Path) > maxPartDepth+1 {
		t.Fatalf("deep message: ok %v, parts %+v", ok, own)
	}
}

func itoa(i int) string { return sectionString([]int{i}) }

// FuzzParseStructure works out the structure of fuzzed messages as for a
// strict server's text/plain answer: never a panic, and every part of a
// structure worked out is found by CutParts at its size, since its parts'
// files are only ever cut from the TEXT.
func FuzzParseStructure(f *testing.F) {
	for _, seed := range []string{
		crlf("Content-Type: multipart/mixed; boundary=B", "", "pre", "--B", "", "one", "--B \t", "Content-Type: text/plain", "", "two", "--B--", "epilogue"),
		crlf("Content-Type: multipart/mixed; boundary=B", "", "--B", "Content-Type: message/rfc822", "",
			"Content-Type: multipart/alternative; boundary=C", "", "--C", "", "a", "--C", "", "b", "--C--", "", "--B--", ""),
		crlf("Content-Type: multipart/digest; boundary=B", "", "--B", "", "Subject: x", "", "y", "--B--"),
		crlf("Content-Type: multipart/mixed; boundary=B", "", "--B", "Content-Type: multipart/mixed; boundary=B", "", "--B", "", "x", "--B--", "--B--"),
		crlf("Content-Type: multipart/mixed; boundary=B", "", "--B", "Content-Type: multipart/mixed; boundary=C", "", "no parts", "--B--"),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		if !bytes.Contains(msg, []byte("\r\n\r\n")) {
			return
		}
		st, text := plainStructure(string(msg))
		if !st.ClaimsMultipart() {
			return
		}
		own, ok := ParseStructure(st, text)
		if !ok {
			return
		}
		cut := CutParts(own, text)
		for _, p := range own.Parts {
			if b, found := cut[p.Section]; !found || int64(len(b)) != p.Size {
				t.Fatalf("part %s (%d bytes) not cut: found %v, %d bytes", p.Section, p.Size, found, len(b))
			}
		}
	})
}

// A message cut short of its close delimiter keeps its last part, as
// servers show it.
func TestParseStructureUnterminated(t *testing.T) {
	st, text := plainStructure(crlf(`Content-Type: multipart/mixed; boundary="B"`, "",
		"--B", "", "one", "--B", "Content-Type: application/pdf", "", "two, cut short"))
	own, ok := ParseStructure(st, text)
	if !ok || len(own.Parts) != 2 {
		t.Fatalf("ok %v, structure %+v", ok, own)
	}
	cut := CutParts(own, text)
	if got := string(cut["2"]); got != "two, cut short" || own.Parts[1].MediaType != "application/pdf" {
		t.Errorf("part 2 = %q, %+v", got, own.Parts[1])
	}
}

// A message of more tiny parts than maxOwnParts is left as the server's
// one part, and splitting it allocates no more than that.
func TestParseStructureBoundsParts(t *testing.T) {
	build := func(n int) string {
		var b strings.Builder
		b.WriteString("Content-Type: multipart/mixed; boundary=B\r\n\r\n")
		for range n {
			b.WriteString("--B\r\n\r\nx\r\n")
		}
		b.WriteString("--B--\r\n")
		return b.String()
	}
	st, text := plainStructure(build(maxOwnParts))
	if own, ok := ParseStructure(st, text); !ok || len(own.Parts) != maxOwnParts {
		t.Fatalf("%d parts: ok %v", maxOwnParts, ok)
	}
	st, text = plainStructure(build(maxOwnParts + 1))
	if _, ok := ParseStructure(st, text); ok {
		t.Fatalf("%d parts: worked out", maxOwnParts+1)
	}
	if n := len(splitMultipart(text, "B", 3)); n != 3 {
		t.Errorf("splitMultipart with max 3 gave %d parts", n)
	}
}
