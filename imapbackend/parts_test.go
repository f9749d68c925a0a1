package imapbackend

import (
	"bufio"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func textPart(subtype, charset string) *imap.BodyStructureSinglePart {
	var params map[string]string
	if charset != "" {
		params = map[string]string{"charset": charset}
	}
	return &imap.BodyStructureSinglePart{
		Type: "text", Subtype: subtype, Params: params,
		Encoding: "quoted-printable", Size: 100,
		Text: &imap.BodyStructureText{NumLines: 3},
	}
}

func attachment(typ, subtype, filename string, size uint32) *imap.BodyStructureSinglePart {
	return &imap.BodyStructureSinglePart{
		Type: typ, Subtype: subtype, Encoding: "base64", Size: size,
		Extended: &imap.BodyStructureSinglePartExt{
			Disposition: &imap.BodyStructureDisposition{
				Value:  "attachment",
				Params: map[string]string{"filename": filename},
			},
		},
	}
}

func multi(subtype string, children ...imap.BodyStructure) *imap.BodyStructureMultiPart {
	return &imap.BodyStructureMultiPart{Subtype: subtype, Children: children}
}

func rfc822(inner imap.BodyStructure) *imap.BodyStructureSinglePart {
	return &imap.BodyStructureSinglePart{
		Type: "message", Subtype: "rfc822", Encoding: "7bit", Size: 1000,
		MessageRFC822: &imap.BodyStructureMessageRFC822{
			Envelope:      &imap.Envelope{Subject: "inner"},
			BodyStructure: inner,
			NumLines:      20,
		},
	}
}

func alternative() *imap.BodyStructureMultiPart {
	return multi("alternative", textPart("plain", "utf-8"), textPart("html", "utf-8"))
}

// partSummary is "section media/type" per leaf, enough to see numbering and order.
func partSummary(parts []Part) []string {
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		out = append(out, p.Section+" "+p.MediaType)
	}
	return out
}

func TestLeafPartsNumbering(t *testing.T) {
	var (
		nilSingle *imap.BodyStructureSinglePart
		nilMulti  *imap.BodyStructureMultiPart
	)
	tests := []struct {
		name string
		bs   imap.BodyStructure
		want []string
	}{
		{"single part", textPart("plain", "us-ascii"), []string{"1 text/plain"}},
		{"alternative", alternative(), []string{"1 text/plain", "2 text/html"}},
		{
			"mixed{alternative, pdf}",
			multi("mixed", alternative(), attachment("application", "pdf", "a.pdf", 4000)),
			[]string{"1.1 text/plain", "1.2 text/html", "2 application/pdf"},
		},
		{
			"mixed{plain, rfc822{alternative}}",
			multi("mixed", textPart("plain", ""), rfc822(alternative())),
			[]string{"1 text/plain", "2 message/rfc822", "2.1 text/plain", "2.2 text/html"},
		},
		{
			// A non-multipart encapsulated body still has a number of its own.
			"mixed{plain, rfc822{plain}}",
			multi("mixed", textPart("plain", ""), rfc822(textPart("plain", "big5"))),
			[]string{"1 text/plain", "2 message/rfc822", "2.1 text/plain"},
		},
		{
			// The outer encapsulated message 2 has a non-multipart body, the
			// inner message, which is therefore 2.1 (like the "1" of a
			// single-part message); the inner message's multipart body then
			// numbers its children under 2.1: 2.1.1, 2.1.2.
			"rfc822 directly inside rfc822",
			multi("mixed", textPart("plain", ""), rfc822(rfc822(alternative()))),
			[]string{"1 text/plain", "2 message/rfc822", "2.1 message/rfc822", "2.1.1 text/plain", "2.1.2 text/html"},
		},
		{
			// Forward of a forward: the inner message is a child of the
			// outer encapsulated multipart, so it is 2.2, its body 2.2.1.
			"rfc822 inside multipart inside rfc822",
			multi("mixed", textPart("plain", ""),
				rfc822(multi("mixed", textPart("plain", ""), rfc822(textPart("plain", ""))))),
			[]string{"1 text/plain", "2 message/rfc822", "2.1 text/plain", "2.2 message/rfc822", "2.2.1 text/plain"},
		},
		{
			"top-level body is a message/rfc822",
			rfc822(alternative()),
			[]string{"1 message/rfc822", "1.1 text/plain", "1.2 text/html"},
		},
		{
			"deep nesting",
			multi("mixed", textPart("plain", ""),
				multi("mixed",
					multi("related", textPart("html", ""), attachment("image", "png", "a.png", 10), attachment("image", "gif", "b.gif", 10)),
					attachment("application", "zip", "z.zip", 10))),
			[]string{"1 text/plain", "2.1.1 text/html", "2.1.2 image/png", "2.1.3 image/gif", "2.2 application/zip"},
		},
		{
			"deep nesting inside rfc822",
			multi("mixed", textPart("plain", ""),
				rfc822(multi("mixed", multi("related", textPart("html", ""), attachment("image", "png", "a.png", 10), attachment("image", "gif", "b.gif", 10))))),
			[]string{"1 text/plain", "2 message/rfc822", "2.1.1 text/html", "2.1.2 image/png", "2.1.3 image/gif"},
		},
		{
			"rfc822 with nil MessageRFC822",
			multi("mixed", textPart("plain", ""), &imap.BodyStructureSinglePart{Type: "MESSAGE", Subtype: "RFC822"}),
			[]string{"1 text/plain", "2 message/rfc822"},
		},
		{
			"rfc822 with nil inner structure",
			multi("mixed", textPart("plain", ""), rfc822(nil)),
			[]string{"1 text/plain", "2 message/rfc822"},
		},
		{
			"rfc822 with typed nil inner structure",
			multi("mixed", rfc822(nilMulti), rfc822(nilSingle)),
			[]string{"1 message/rfc822", "2 message/rfc822"},
		},
		{"nil structure", nil, nil},
		{"typed nil single part", nilSingle, nil},
		{"typed nil multipart", nilMulti, nil},
		{"empty multipart", multi("mixed"), nil},
		{
			// Numbers are positions: an empty or nil child still takes one.
			"empty and nil children",
			multi("mixed", multi("alternative"), nil, nilSingle, textPart("plain", "")),
			[]string{"4 text/plain"},
		},
		{"rfc822 with empty multipart", rfc822(multi("mixed")), []string{"1 message/rfc822"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := partSummary(LeafParts(tt.bs))
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("LeafParts = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLeafPartsPathMatchesSection(t *testing.T) {
	bs := multi("mixed", textPart("plain", ""),
		rfc822(multi("mixed", alternative(), rfc822(rfc822(textPart("plain", ""))))),
		multi("mixed", alternative(), attachment("image", "png", "x.png", 1)))
	parts := LeafParts(bs)
	want := []string{"1", "2", "2.1.1", "2.1.2", "2.2", "2.2.1", "2.2.1.1", "3.1.1", "3.1.2", "3.2"}
	var sections []string
	for _, p := range parts {
		sections = append(sections, p.Section)
		if got := sectionString(p.Path); got != p.Section {
			t.Errorf("Path %v renders as %q, Section is %q", p.Path, got, p.Section)
		}
	}
	if !reflect.DeepEqual(sections, want) {
		t.Fatalf("sections = %q, want %q", sections, want)
	}
	// Each Part owns its Path: a caller growing or editing one must not
	// rewrite a sibling's.
	for i := range parts {
		grown := append(parts[i].Path, 99)
		grown[0] = 42
		for j, p := range parts {
			if j > i && sectionString(p.Path) != p.Section {
				t.Fatalf("editing part %s's path changed part %s's to %v", parts[i].Section, p.Section, p.Path)
			}
		}
	}
}

func TestLeafPartsFields(t *testing.T) {
	bs := multi("mixed",
		&imap.BodyStructureSinglePart{
			Type: "TEXT", Subtype: "Plain",
			Params:   map[string]string{"CHARSET": "ISO-8859-1", "Format": "flowed"},
			Encoding: "Quoted-Printable", Size: 321,
		},
		&imap.BodyStructureSinglePart{
			Type: "application", Subtype: "pdf",
			Params:   map[string]string{"name": "ct-name.pdf"},
			Encoding: "BASE64", Size: 7800,
			Extended: &imap.BodyStructureSinglePartExt{
				Disposition: &imap.BodyStructureDisposition{Value: "ATTACHMENT", Params: map[string]string{"filename": "report.pdf"}},
			},
		},
		&imap.BodyStructureSinglePart{
			Type: "image", Subtype: "png", Params: map[string]string{"Name": "logo.png"}, Encoding: "base64", Size: 10,
			Extended: &imap.BodyStructureSinglePartExt{Disposition: &imap.BodyStructureDisposition{Value: "inline"}},
		},
		&imap.BodyStructureSinglePart{
			Type: "application", Subtype: "octet-stream", Size: 5,
			Extended: &imap.BodyStructureSinglePartExt{
				Disposition: &imap.BodyStructureDisposition{Value: "attachment", Params: map[string]string{"FileName": "x.bin"}},
			},
		},
	)
	want := []Part{
		{
			Section: "1", Path: []int{1}, MediaType: "text/plain",
			Params:   map[string]string{"charset": "ISO-8859-1", "format": "flowed"},
			Encoding: "quoted-printable", Charset: "iso-8859-1", Size: 321,
		},
		{
			Section: "2", Path: []int{2}, MediaType: "application/pdf",
			Params:   map[string]string{"name": "ct-name.pdf"},
			Encoding: "base64", Disposition: "attachment", Filename: "report.pdf", Size: 7800,
		},
		{
			Section: "3", Path: []int{3}, MediaType: "image/png",
			Params:   map[string]string{"name": "logo.png"},
			Encoding: "base64", Disposition: "inline", Filename: "logo.png", Size: 10,
		},
		{
			Section: "4", Path: []int{4}, MediaType: "application/octet-stream",
			Disposition: "attachment", Filename: "x.bin", Size: 5,
		},
	}
	got := LeafParts(bs)
	if len(got) != len(want) {
		t.Fatalf("got %d parts, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("part %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestLeafPartsDepthCap(t *testing.T) {
	var deepMulti imap.BodyStructure = textPart("plain", "")
	var deepMsg imap.BodyStructure = textPart("plain", "")
	for i := 0; i < 10000; i++ {
		deepMulti = multi("mixed", deepMulti)
		deepMsg = rfc822(deepMsg)
	}
	for name, bs := range map[string]imap.BodyStructure{"multipart": deepMulti, "rfc822": deepMsg} {
		parts := LeafParts(bs)
		for _, p := range parts {
			if len(p.Path) > maxPartDepth+2 {
				t.Errorf("%s: path of depth %d exceeds the cap", name, len(p.Path))
				break
			}
		}
		if name == "rfc822" && len(parts) == 0 {
			t.Errorf("%s: the outer levels should still be listed", name)
		}
	}
}

func TestPartPredicates(t *testing.T) {
	tests := []struct {
		p          Part
		message    bool
		inlineText bool
	}{
		{Part{MediaType: "text/plain"}, false, true},
		{Part{MediaType: "text/html", Disposition: "inline"}, false, true},
		{Part{MediaType: "text/plain", Disposition: "attachment"}, false, false},
		{Part{MediaType: "text/calendar", Disposition: "attachment", Filename: "invite.ics"}, false, false},
		{Part{MediaType: "application/pdf"}, false, false},
		{Part{MediaType: "message/rfc822"}, true, false},
		{Part{MediaType: "message/global"}, true, false},
		{Part{MediaType: "message/delivery-status"}, false, false},
	}
	for _, tt := range tests {
		if got := tt.p.IsMessage(); got != tt.message {
			t.Errorf("%+v.IsMessage() = %v, want %v", tt.p, got, tt.message)
		}
		if got := tt.p.IsInlineText(); got != tt.inlineText {
			t.Errorf("%+v.IsInlineText() = %v, want %v", tt.p, got, tt.inlineText)
		}
	}
}

// fetchBodyStructure lets go-imap's own client parse a BODYSTRUCTURE as a
// server would send it, over an in-memory connection.
func fetchBodyStructure(t *testing.T, bodyStructure string) imap.BodyStructure {
	t.Helper()
	clientConn, serverConn := net.Pipe()
	defer serverConn.Close()
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			if _, err := serverConn.Write([]byte("* OK [CAPABILITY IMAP4rev1] ready\r\n")); err != nil {
				return err
			}
			line, err := bufio.NewReader(serverConn).ReadString('\n')
			if err != nil {
				return err
			}
			tag, _, _ := strings.Cut(line, " ")
			_, err = fmt.Fprintf(serverConn, "* 1 FETCH (UID 7 BODYSTRUCTURE %s)\r\n%s OK FETCH done\r\n", bodyStructure, tag)
			return err
		}()
	}()
	c := imapclient.New(clientConn, nil)
	defer c.Close()
	_ = clientConn.SetDeadline(time.Now().Add(10 * time.Second))
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		UID:           true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
	}).Collect()
	if err != nil {
		t.Fatalf("FETCH: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("fake server: %v", err)
	}
	if len(msgs) != 1 || msgs[0].BodyStructure == nil {
		t.Fatalf("got %d messages without a body structure", len(msgs))
	}
	return msgs[0].BodyStructure
}

func TestLeafPartsFromServerText(t *testing.T) {
	const env = `("Mon, 1 Jan 2024 10:00:00 +0000" "Hello" (("Alice" NIL "alice" "example.com")) (("Alice" NIL "alice" "example.com")) (("Alice" NIL "alice" "example.com")) (("Bob" NIL "bob" "example.org")) NIL NIL NIL "<id@example.com>")`
	tests := []struct {
		name string
		bs   string
		want []string
	}{
		{
			"single part",
			`("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 3028 92)`,
			[]string{"1 text/plain charset=us-ascii enc=7bit disp= file= size=3028"},
		},
		{
			"mixed{alternative, pdf}",
			`((("TEXT" "PLAIN" ("CHARSET" "UTF-8") NIL NIL "QUOTED-PRINTABLE" 1234 40 NIL NIL NIL NIL)` +
				`("TEXT" "HTML" ("CHARSET" "UTF-8") NIL NIL "QUOTED-PRINTABLE" 5678 100 NIL NIL NIL NIL) "ALTERNATIVE" ("BOUNDARY" "b1") NIL NIL NIL)` +
				`("APPLICATION" "PDF" ("NAME" "report.pdf") NIL NIL "BASE64" 78000 NIL ("ATTACHMENT" ("FILENAME" "report.pdf")) NIL NIL)` +
				` "MIXED" ("BOUNDARY" "b0") NIL NIL NIL)`,
			[]string{
				"1.1 text/plain charset=utf-8 enc=quoted-printable disp= file= size=1234",
				"1.2 text/html charset=utf-8 enc=quoted-printable disp= file= size=5678",
				"2 application/pdf charset= enc=base64 disp=attachment file=report.pdf size=78000",
			},
		},
		{
			"forwarded message",
			`(("TEXT" "PLAIN" ("CHARSET" "ISO-8859-1") NIL NIL "7BIT" 20 1 NIL NIL NIL NIL)` +
				`("MESSAGE" "RFC822" ("NAME" "fwd.eml") NIL NIL "7BIT" 900 ` + env +
				` (("TEXT" "PLAIN" ("CHARSET" "Big5") NIL NIL "BASE64" 100 2 NIL NIL NIL NIL)` +
				`("TEXT" "HTML" ("CHARSET" "UTF-8") NIL NIL "QUOTED-PRINTABLE" 200 5 NIL NIL NIL NIL) "ALTERNATIVE" ("BOUNDARY" "x") NIL NIL NIL)` +
				` 30 NIL ("ATTACHMENT" NIL) NIL NIL)` +
				`("MESSAGE" "RFC822" NIL NIL NIL "8BIT" 300 ` + env +
				` ("TEXT" "PLAIN" ("CHARSET" "windows-1252") NIL NIL "8BIT" 100 3 NIL NIL NIL NIL) 10 NIL NIL NIL NIL)` +
				` "MIXED" ("BOUNDARY" "y") NIL NIL NIL)`,
			[]string{
				"1 text/plain charset=iso-8859-1 enc=7bit disp= file= size=20",
				"2 message/rfc822 charset= enc=7bit disp=attachment file=fwd.eml size=900",
				"2.1 text/plain charset=big5 enc=base64 disp= file= size=100",
				"2.2 text/html charset=utf-8 enc=quoted-printable disp= file= size=200",
				"3 message/rfc822 charset= enc=8bit disp= file= size=300",
				"3.1 text/plain charset=windows-1252 enc=8bit disp= file= size=100",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range LeafParts(fetchBodyStructure(t, tt.bs)) {
				got = append(got, fmt.Sprintf("%s %s charset=%s enc=%s disp=%s file=%s size=%d", p.Section, p.MediaType, p.Charset, p.Encoding, p.Disposition, p.Filename, p.Size))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("LeafParts =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestParamValueRFC2231(t *testing.T) {
	tests := []struct {
		params map[string]string
		want   string
	}{
		{map[string]string{"filename": "plain.pdf"}, "plain.pdf"},
		{map[string]string{"filename*": "utf-8''r%C3%A9sum%C3%A9.pdf"}, "résumé.pdf"},
		{map[string]string{"FILENAME*": "iso-8859-1'fr'caf%E9.txt"}, "café.txt"},
		{map[string]string{"filename*0*": "utf-8''%C3%A9t%C3%A9", "filename*1": "-2026.pdf"}, "été-2026.pdf"},
		{map[string]string{"filename*0": "long", "filename*1": "name.txt"}, "longname.txt"},
		{map[string]string{"filename*": "no-quotes"}, "no-quotes"},
		{map[string]string{"filename*": "utf-8''bad%ZZ"}, "bad%ZZ"},
		{map[string]string{}, ""},
	}
	for _, tt := range tests {
		if got := paramValue(tt.params, "filename"); got != tt.want {
			t.Errorf("paramValue(%v) = %q, want %q", tt.params, got, tt.want)
		}
	}
}
