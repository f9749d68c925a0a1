package imapbackend_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/imapfs/imapfs/imapbackend"
)

// wrap76 breaks s into lines of 76 characters with CRLF, as mail
// encoders send base64.
func wrap76(s string) []byte {
	var b bytes.Buffer
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s + "\r\n")
	return b.Bytes()
}

// FuzzDecodeBase64: the standard encoding of any bytes, wrapped as mail
// is, decodes back to them; any input decodes without a panic to at most
// 3/4 of its size (base64 never grows).
func FuzzDecodeBase64(f *testing.F) {
	for _, seed := range []string{"", "a", "hello, world", "\x00\xff\xfe", strings.Repeat("x", 200), "QUJD!!*==\r\n", "=", "A", "AB", "ABC="} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		enc := wrap76(base64.StdEncoding.EncodeToString(data))
		if got := imapbackend.DecodeBase64(enc); !bytes.Equal(got, data) {
			t.Errorf("DecodeBase64(%q) = %q, want %q", enc, got, data)
		}
		// Without padding and with junk between groups, as sloppy mailers send it.
		raw := []byte(strings.ReplaceAll(base64.RawStdEncoding.EncodeToString(data), "A", "A !\t"))
		if got := imapbackend.DecodeBase64(raw); !bytes.Equal(got, data) {
			t.Errorf("DecodeBase64(%q) = %q, want %q", raw, got, data)
		}
		if got := imapbackend.DecodeBase64(data); len(got) > len(data)*3/4 {
			t.Errorf("DecodeBase64 of %d bytes gave %d", len(data), len(got))
		}
	})
}

// FuzzDecodeQuotedPrintable: what mime/quotedprintable's writer makes of
// any bytes decodes back to them (in binary mode; in text mode, to what
// the standard reader reads); any input decodes without a panic to at
// most its own size.
func FuzzDecodeQuotedPrintable(f *testing.F) {
	for _, seed := range []string{"", "a=b", "caf\xc3\xa9 \t\r\nline", "trailing   \r\n", strings.Repeat("long line ", 20), "=\r\n=0", "=4", "=\n", "= \r\n", "\r\r\n\n"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, binary := range []bool{true, false} {
			var enc bytes.Buffer
			w := quotedprintable.NewWriter(&enc)
			w.Binary = binary
			w.Write(data)
			w.Close()
			want := data
			if !binary {
				var err error
				if want, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(enc.Bytes()))); err != nil {
					continue // the standard reader refuses what its writer made: nothing to compare with
				}
			}
			if got := imapbackend.DecodeQuotedPrintable(enc.Bytes()); !bytes.Equal(got, want) {
				t.Errorf("binary %v: DecodeQuotedPrintable(%q) = %q, want %q", binary, enc.Bytes(), got, want)
			}
		}
		if got := imapbackend.DecodeQuotedPrintable(data); len(got) > len(data) {
			t.Errorf("DecodeQuotedPrintable of %d bytes gave %d", len(data), len(got))
		}
	})
}

// charsets are labels mail carries, so that most fuzzed inputs reach a
// real decoder rather than an unknown label.
var charsets = []string{
	"iso-8859-1", "iso-8859-2", "iso-8859-15", "windows-1250", "windows-1251", "windows-1252",
	"koi8-r", "koi8-u", "big5", "gb2312", "gbk", "gb18030", "shift_jis", "euc-jp", "iso-2022-jp",
	"euc-kr", "ks_c_5601-1987", "utf-16", "utf-16le", "utf-16be", "utf-7", "us-ascii", "utf-8",
	"UTF-8", " \"Windows-1252\" ", "x-mac-roman", "tis-620", "macintosh", "cp850",
}

// FuzzToUTF8: any bytes in any charset label convert without a panic;
// UTF-8 labels change nothing; a conversion gives valid UTF-8, at most 3
// bytes per input byte and a few more (a replacement character for each).
// The label is one of charsets, or the fuzzed one when pick is past them.
func FuzzToUTF8(f *testing.F) {
	for i, text := range []string{"caf\xe9", "\x80\x81\x9f", "\xb7\x7c\xc4\xb3", "\x82\xa0\x82", "\x1b$B$\"\x1b(B",
		"\xff\xfeA\x00\x00\xd8", "\xf0\xd2\xc9", "\x81\x30\x81\x30", "+AGEAYgBj-", "\xc3"} {
		f.Add(uint8(i), "", []byte(text))
	}
	f.Add(uint8(255), "x-unknown", []byte("abc"))
	f.Fuzz(func(t *testing.T, pick uint8, label string, b []byte) {
		charset := label
		if int(pick) < len(charsets) {
			charset = charsets[pick]
		}
		got := imapbackend.ToUTF8(charset, b)
		switch strings.ToLower(strings.Trim(strings.TrimSpace(charset), `"'`)) {
		case "", "us-ascii", "utf-8", "utf8":
			if !bytes.Equal(got, b) {
				t.Errorf("ToUTF8(%q) changed the bytes", charset)
			}
			return
		}
		if bytes.Equal(got, b) {
			return // unknown charset, or undecodable: the bytes as they are
		}
		if !utf8.Valid(got) {
			t.Errorf("ToUTF8(%q, %q) = %q: invalid UTF-8", charset, b, got)
		}
		if len(got) > 3*len(b)+4 {
			t.Errorf("ToUTF8(%q) of %d bytes gave %d", charset, len(b), len(got))
		}
	})
}

// FuzzDecodePart: any part and raw bytes decode without a panic; a part
// that DecodesAsIs gets its bytes back unchanged; an attachment gets
// exactly its transfer decoding, never a charset conversion.
func FuzzDecodePart(f *testing.F) {
	f.Add("text/plain", "quoted-printable", "iso-8859-1", "", []byte("caf=E9\r\n"))
	f.Add("application/pdf", "base64", "", "attachment", []byte("JVBERi0=\r\n"))
	f.Add("text/html", "8bit", "utf-8", "inline", []byte("<p>\xff</p>"))
	f.Add("text/plain", "base64", "big5", "attachment", []byte("t3zEsw=="))
	f.Add("message/rfc822", "7bit", "koi8-r", "", []byte("Subject: x\r\n\r\nbody"))
	f.Add("text/plain", " BASE64 ", "utf-16", "", []byte("//5BAA=="))
	f.Fuzz(func(t *testing.T, mediaType, encoding, charset, disposition string, raw []byte) {
		p := imapbackend.Part{MediaType: mediaType, Encoding: encoding, Charset: charset, Disposition: disposition}
		keep := append([]byte(nil), raw...)
		got := imapbackend.DecodePart(p, raw)
		if !bytes.Equal(raw, keep) {
			t.Fatal("DecodePart changed its input")
		}
		if p.DecodesAsIs() && !bytes.Equal(got, raw) {
			t.Errorf("part %+v decodes as is, but DecodePart changed %q to %q", p, raw, got)
		}
		if p.IsInlineText() && !p.IsMessage() {
			return
		}
		var want []byte
		switch strings.ToLower(strings.TrimSpace(encoding)) {
		case "base64":
			want = imapbackend.DecodeBase64(raw)
		case "quoted-printable":
			want = imapbackend.DecodeQuotedPrintable(raw)
		default:
			want = raw
		}
		if !bytes.Equal(got, want) {
			t.Errorf("attachment %+v: DecodePart(%q) = %q, want its transfer decoding %q", p, raw, got, want)
		}
	})
}
