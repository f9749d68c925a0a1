package imapbackend

import (
	"bytes"
	"encoding/base64"
	"math/rand"
	"testing"
	"time"
)

func TestDecodeBase64(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"normal", "aGVsbG8gd29ybGQ=", "hello world"},
		{"double padding", "YQ==", "a"},
		{"no padding, 3 chars", "aGVsbG8", "hello"},
		{"no padding, 2 chars", "YQ", "a"},
		{"one leftover char dropped", "YWJjZ", "abc"},
		{"line breaks", "aGVs\r\nbG8g\r\nd29y\nbGQ=\r\n", "hello world"},
		{"junk characters", "aG!Vs*bG8g d2\t9y~bGQ=", "hello world"},
		{"stops at padding", "YQ==YWJj", "a"},
		{"stops at lone =", "YWJj=ZGVm", "abc"},
		{"only padding", "====", ""},
		{"only junk", "!!*** \r\n", ""},
		{"empty", "", ""},
		{"unused bits set", "YR==", "a"},
		{"binary", "AP+AfwE=", "\x00\xff\x80\x7f\x01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DecodeBase64([]byte(tt.in)); string(got) != tt.want {
				t.Errorf("DecodeBase64(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// wrapBase64 encodes b the way mailers do: 76 characters per CRLF line.
func wrapBase64(b []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(b)
	var out bytes.Buffer
	for len(enc) > 76 {
		out.WriteString(enc[:76])
		out.WriteString("\r\n")
		enc = enc[76:]
	}
	out.WriteString(enc)
	return out.Bytes()
}

func TestDecodeBase64RoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for n := 0; n < 300; n++ {
		b := make([]byte, n)
		r.Read(b)
		if got := DecodeBase64(wrapBase64(b)); !bytes.Equal(got, b) {
			t.Fatalf("length %d: round trip mismatch", n)
		}
		raw := base64.RawStdEncoding.EncodeToString(b)
		if got := DecodeBase64([]byte(raw)); !bytes.Equal(got, b) {
			t.Fatalf("length %d: unpadded round trip mismatch", n)
		}
	}
}

func TestDecodeBase64Large(t *testing.T) {
	b := make([]byte, 10<<20)
	rand.New(rand.NewSource(2)).Read(b)
	enc := wrapBase64(b)
	start := time.Now()
	got := DecodeBase64(enc)
	elapsed := time.Since(start)
	if !bytes.Equal(got, b) {
		t.Fatal("10 MB round trip mismatch")
	}
	t.Logf("decoded %d encoded bytes in %v", len(enc), elapsed)
	if elapsed > time.Second {
		t.Errorf("decoding 10 MB took %v", elapsed)
	}
}

func BenchmarkDecodeBase64(b *testing.B) {
	data := make([]byte, 10<<20)
	rand.New(rand.NewSource(3)).Read(data)
	enc := wrapBase64(data)
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		DecodeBase64(enc)
	}
}

func TestDecodeQuotedPrintable(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "hello world", "hello world"},
		{"soft break LF", "hello =\nworld", "hello world"},
		{"soft break CRLF", "hello =\r\nworld", "hello world"},
		{"soft break with trailing blanks", "hello=  \t\r\nworld", "helloworld"},
		{"encoded equals", "a=3Db", "a=b"},
		{"upper-case hex", "caf=E9", "caf\xe9"},
		{"lower-case hex", "caf=e9", "caf\xe9"},
		{"utf-8 bytes", "=E2=82=AC", "€"},
		{"invalid hex kept", "a=ZZb", "a=ZZb"},
		{"half-invalid hex kept", "=4G", "=4G"},
		{"= followed by blank", "a = b", "a = b"},
		{"short sequence at EOF", "abc=4", "abc=4"},
		{"double =", "==41", "=A"},
		{"trailing = at EOF", "abc=", "abc"},
		{"trailing = and blanks at EOF", "abc= ", "abc"},
		{"trailing blanks removed CRLF", "line  \t\r\nnext", "line\r\nnext"},
		{"trailing blanks removed LF", "line \nnext", "line\nnext"},
		{"trailing blanks at EOF removed", "line  ", "line"},
		{"encoded trailing blank kept", "line=20\r\n", "line \r\n"},
		{"line ends kept", "a\r\nb\nc\r\n", "a\r\nb\nc\r\n"},
		{"lone CR kept", "a\rb", "a\rb"},
		{"= before CR without LF", "a=\rb", "a=\rb"},
		{"empty lines", "\r\n\r\n", "\r\n\r\n"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DecodeQuotedPrintable([]byte(tt.in)); string(got) != tt.want {
				t.Errorf("DecodeQuotedPrintable(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestToUTF8(t *testing.T) {
	tests := []struct {
		charset, in, want string
	}{
		{"iso-8859-1", "caf\xe9", "café"},
		{"ISO-8859-1", "caf\xe9", "café"},
		{`"iso-8859-1"`, "caf\xe9", "café"},
		{"latin1", "caf\xe9", "café"},
		{"big5", "\xb7\x7c\xc4\xb3", "會議"},
		{"windows-1252", "\x80 5", "€ 5"},
		{"gb2312", "\xd6\xd0\xce\xc4", "中文"},
		{"shift_jis", "\x82\xa0", "あ"},
		{"koi8-r", "\xf0\xd2\xc9\xd7\xc5\xd4", "Привет"},
		{"x-foo", "caf\xe9", "caf\xe9"},
		{"", "caf\xe9", "caf\xe9"},
		{"us-ascii", "caf\xe9", "caf\xe9"},
		{"utf-8", "caf\xe9", "caf\xe9"},
		{"UTF8", "café", "café"},
		{"iso-8859-1", "", ""},
	}
	for _, tt := range tests {
		if got := ToUTF8(tt.charset, []byte(tt.in)); string(got) != tt.want {
			t.Errorf("ToUTF8(%q, %q) = %q, want %q", tt.charset, tt.in, got, tt.want)
		}
	}
}

func TestDecodePart(t *testing.T) {
	pdf := []byte("%PDF-1.4\n\x80\x81\xe9\xff\x00 binary\r\n%%EOF")
	tests := []struct {
		name string
		p    Part
		raw  string
		want string
	}{
		{
			"attachment keeps its charset bytes",
			Part{MediaType: "text/plain", Encoding: "base64", Charset: "iso-8859-1", Disposition: "attachment"},
			base64.StdEncoding.EncodeToString([]byte("caf\xe9")), "caf\xe9",
		},
		{
			"inline text is converted",
			Part{MediaType: "text/plain", Encoding: "quoted-printable", Charset: "iso-8859-1", Disposition: "inline"},
			"caf=E9 =\r\nau lait", "café au lait",
		},
		{
			"text without disposition is converted",
			Part{MediaType: "text/html", Encoding: "base64", Charset: "big5"},
			base64.StdEncoding.EncodeToString([]byte("\xb7\x7c\xc4\xb3")), "會議",
		},
		{
			"8bit inline text is converted",
			Part{MediaType: "text/plain", Encoding: "8bit", Charset: "windows-1252"},
			"\x80", "€",
		},
		{
			"pdf decodes exactly",
			Part{MediaType: "application/pdf", Encoding: "base64", Disposition: "attachment", Filename: "a.pdf"},
			string(wrapBase64(pdf)), string(pdf),
		},
		{
			"non-text with a charset is not converted",
			Part{MediaType: "application/octet-stream", Encoding: "base64", Charset: "iso-8859-1"},
			base64.StdEncoding.EncodeToString([]byte("\xe9")), "\xe9",
		},
		{
			"message/rfc822 is never converted",
			Part{MediaType: "message/rfc822", Encoding: "8bit", Charset: "iso-8859-1"},
			"Subject: caf\xe9\r\n\r\nbody\r\n", "Subject: caf\xe9\r\n\r\nbody\r\n",
		},
		{
			"upper-case encoding",
			Part{MediaType: "image/png", Encoding: "BASE64"},
			"iVBORw==", "\x89PNG",
		},
		{"7bit unchanged", Part{MediaType: "text/plain", Encoding: "7bit"}, "a=3D\r\n", "a=3D\r\n"},
		{"binary unchanged", Part{MediaType: "application/zip", Encoding: "binary"}, "PK\x03\x04", "PK\x03\x04"},
		{"uuencode unchanged", Part{MediaType: "application/zip", Encoding: "x-uuencode"}, "begin 644 a\n", "begin 644 a\n"},
		{"garbage encoding unchanged", Part{MediaType: "text/plain", Encoding: "x-???"}, "aGk=", "aGk="},
		{"no encoding unchanged", Part{MediaType: "text/plain"}, "aGk=", "aGk="},
		{
			"unknown charset leaves decoded bytes",
			Part{MediaType: "text/plain", Encoding: "quoted-printable", Charset: "x-foo"},
			"caf=E9", "caf\xe9",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DecodePart(tt.p, []byte(tt.raw)); string(got) != tt.want {
				t.Errorf("DecodePart = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDecodePartNeverPanics(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	encodings := []string{"base64", "quoted-printable", "7bit", ""}
	charsets := []string{"utf-8", "big5", "shift_jis", "iso-2022-jp", "utf-16", "x-foo"}
	for i := 0; i < 2000; i++ {
		raw := make([]byte, r.Intn(64))
		r.Read(raw)
		p := Part{
			MediaType: "text/plain",
			Encoding:  encodings[r.Intn(len(encodings))],
			Charset:   charsets[r.Intn(len(charsets))],
		}
		_ = DecodePart(p, raw)
	}
	if got := DecodePart(Part{Encoding: "base64"}, nil); len(got) != 0 {
		t.Errorf("DecodePart(nil) = %q", got)
	}
}
