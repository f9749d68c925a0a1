package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"
)

// Word is what the grep benchmark looks for. It is in no vocabulary list,
// so it occurs exactly where the generator puts it.
const Word = "zanzibarquokka"

// Shape is the MIME structure of a generated message.
type Shape int

const (
	ShapePlain       Shape = iota // text/plain, UTF-8, 8bit
	ShapeQuoted                   // text/plain, ISO-8859-1, quoted-printable
	ShapeLatin8bit                // text/plain, windows-1252, 8bit
	ShapeAlternative              // multipart/alternative: text/plain + text/html
	ShapeAttachment               // multipart/mixed: text/plain + base64 application/pdf
	ShapeBase64Text               // multipart/mixed: text/plain + base64 text/plain (the word may hide there)
	ShapeForward                  // multipart/mixed: text/plain + message/rfc822
	numShapes
)

var shapeNames = [...]string{"plain", "quoted-printable", "latin1-8bit", "alternative", "attachment", "base64-text", "forward"}

func (s Shape) String() string { return shapeNames[s] }

// Mix is how often each shape occurs, in percent of messages; the rest are
// ShapePlain.
type Mix struct {
	Quoted, Latin8bit, Alternative, Attachment, Base64Text, Forward int
	WordPercent                                                     int // messages that carry Word somewhere
}

// DefaultMix resembles a working mailbox: mostly short plain text, some
// HTML mail, a few attachments and forwards.
var DefaultMix = Mix{Quoted: 8, Latin8bit: 4, Alternative: 12, Attachment: 5, Base64Text: 3, Forward: 2, WordPercent: 10}

// LeanMix has fewer attachments, for the 100,000-message folder whose
// content is listed but never read: it keeps seeding and Dovecot's first
// parse quick.
var LeanMix = Mix{Quoted: 8, Latin8bit: 4, Alternative: 12, Attachment: 1, Base64Text: 3, Forward: 2, WordPercent: 10}

// GenInfo describes one generated message.
type GenInfo struct {
	Shape   Shape
	Date    time.Time
	Word    bool // Word is in the decoded text of some part
	RawWord bool // Word is in the raw bytes (what grep on a maildir sees)
}

// Generator makes deterministic messages from a seed.
type Generator struct {
	rng  *rand.Rand
	mix  Mix
	base time.Time
	step time.Duration
	n    int
	i    int
}

// NewGenerator returns a generator of n messages dated from two years
// before end up to end, in order.
func NewGenerator(seed uint64, n int, mix Mix, end time.Time) *Generator {
	span := 2 * 365 * 24 * time.Hour
	return &Generator{
		rng:  rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		mix:  mix,
		base: end.Add(-span),
		step: span / time.Duration(max(n, 1)),
		n:    n,
	}
}

// Next appends the next message (LF line endings, as maildir stores it) to
// buf and describes it.
func (g *Generator) Next(buf *bytes.Buffer) GenInfo {
	r := g.rng
	info := GenInfo{Date: g.base.Add(time.Duration(g.i)*g.step + time.Duration(r.Int64N(int64(g.step/2)+1))).Truncate(time.Second)}
	g.i++
	info.Shape = g.pickShape()
	info.Word = r.IntN(100) < g.mix.WordPercent
	if info.Shape == ShapeBase64Text {
		// Often enough that a raw grep's miss shows in the counts.
		info.Word = r.IntN(2) == 0
	}

	start := buf.Len()
	g.header(buf, info.Date)
	switch info.Shape {
	case ShapePlain:
		buf.WriteString("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n")
		buf.WriteString(g.text(1000+r.IntN(5000), info.Word, "utf-8"))
	case ShapeQuoted:
		buf.WriteString("Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n")
		buf.WriteString(g.text(1000+r.IntN(5000), info.Word, "qp"))
	case ShapeLatin8bit:
		buf.WriteString("Content-Type: text/plain; charset=windows-1252\nContent-Transfer-Encoding: 8bit\n\n")
		buf.WriteString(g.text(1000+r.IntN(4000), info.Word, "latin1"))
	case ShapeAlternative:
		b := g.boundary()
		fmt.Fprintf(buf, "Content-Type: multipart/alternative; boundary=%q\n\nThis is a multi-part message in MIME format.\n", b)
		body := g.text(800+r.IntN(3000), info.Word, "utf-8")
		fmt.Fprintf(buf, "--%s\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n%s\n", b, body)
		fmt.Fprintf(buf, "--%s\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n%s\n--%s--\n", b, html(body), b)
	case ShapeAttachment:
		b := g.boundary()
		fmt.Fprintf(buf, "Content-Type: multipart/mixed; boundary=%q\n\n", b)
		fmt.Fprintf(buf, "--%s\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n%s\n", b, g.text(300+r.IntN(1500), info.Word, "utf-8"))
		name := fmt.Sprintf("report-%04d.pdf", r.IntN(10000))
		fmt.Fprintf(buf, "--%s\nContent-Type: application/pdf; name=%q\nContent-Disposition: attachment; filename=%q\nContent-Transfer-Encoding: base64\n\n", b, name, name)
		writeBase64(buf, randomReader{r}, int64(20<<10+r.IntN(280<<10)))
		fmt.Fprintf(buf, "--%s--\n", b)
	case ShapeBase64Text:
		b := g.boundary()
		fmt.Fprintf(buf, "Content-Type: multipart/mixed; boundary=%q\n\n", b)
		// The word, if any, is only in the base64 part: a grep over raw
		// files misses it, one over decoded parts finds it.
		fmt.Fprintf(buf, "--%s\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n%s\n", b, g.text(200+r.IntN(800), false, "utf-8"))
		fmt.Fprintf(buf, "--%s\nContent-Type: text/plain; charset=utf-8; name=\"notes.txt\"\nContent-Disposition: inline; filename=\"notes.txt\"\nContent-Transfer-Encoding: base64\n\n", b)
		writeBase64(buf, strings.NewReader(g.text(1000+r.IntN(4000), info.Word, "utf-8")), -1)
		fmt.Fprintf(buf, "--%s--\n", b)
	case ShapeForward:
		b := g.boundary()
		fmt.Fprintf(buf, "Content-Type: multipart/mixed; boundary=%q\n\n", b)
		fmt.Fprintf(buf, "--%s\nContent-Type: text/plain; charset=utf-8\n\nForwarded message below.\n\n", b)
		fmt.Fprintf(buf, "--%s\nContent-Type: message/rfc822\nContent-Disposition: inline\n\n", b)
		g.header(buf, info.Date.Add(-time.Duration(1+r.IntN(72))*time.Hour))
		buf.WriteString("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n")
		buf.WriteString(g.text(500+r.IntN(3000), info.Word, "utf-8"))
		fmt.Fprintf(buf, "\n--%s--\n", b)
	}
	info.RawWord = bytes.Contains(buf.Bytes()[start:], []byte(Word))
	return info
}

func (g *Generator) pickShape() Shape {
	p := g.rng.IntN(100)
	m := g.mix
	for _, c := range []struct {
		pct   int
		shape Shape
	}{{m.Quoted, ShapeQuoted}, {m.Latin8bit, ShapeLatin8bit}, {m.Alternative, ShapeAlternative}, {m.Attachment, ShapeAttachment}, {m.Base64Text, ShapeBase64Text}, {m.Forward, ShapeForward}} {
		if p < c.pct {
			return c.shape
		}
		p -= c.pct
	}
	return ShapePlain
}

func (g *Generator) boundary() string {
	return fmt.Sprintf("=_bench_%016x", g.rng.Uint64())
}

// header writes a realistic header (trace lines, addresses, IDs), about
// 700 bytes, without the Content-Type that the caller adds.
func (g *Generator) header(buf *bytes.Buffer, date time.Time) {
	r := g.rng
	from, to := pick(r, people), pick(r, people)
	host := pick(r, hosts)
	id := r.Uint64()
	fmt.Fprintf(buf, "Return-Path: <%s@%s>\n", strings.ToLower(strings.Fields(from)[0]), host)
	for hop := range 2 + r.IntN(2) {
		fmt.Fprintf(buf, "Received: from mx%d.%s (mx%d.%s [192.0.2.%d])\n\tby mail.example.org (Postfix) with ESMTPS id %X\n\tfor <me@example.org>; %s\n",
			hop, host, hop, host, 1+r.IntN(250), r.Uint32(), date.Add(-time.Duration(hop)*time.Second).Format(time.RFC1123Z))
	}
	fmt.Fprintf(buf, "From: %s <%s@%s>\n", from, strings.ToLower(strings.ReplaceAll(from, " ", ".")), host)
	fmt.Fprintf(buf, "To: %s <me@example.org>\n", to)
	fmt.Fprintf(buf, "Subject: %s\n", g.words(3+r.IntN(6)))
	fmt.Fprintf(buf, "Date: %s\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(buf, "Message-ID: <%016x.%d@%s>\n", id, r.IntN(1000), host)
	fmt.Fprintf(buf, "X-Mailer: %s\nMIME-Version: 1.0\n", pick(r, mailers))
}

func (g *Generator) words(n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = pick(g.rng, vocabulary)
	}
	return strings.Join(w, " ")
}

// text returns about size bytes of body text in lines of at most 72
// characters. With word, Word is placed once at a random spot. enc is
// "utf-8" (some non-ASCII words), "latin1" (raw ISO-8859-1 bytes) or "qp"
// (ISO-8859-1, quoted-printable; lines are broken between words, never
// with a soft break, so that Word stays whole in the raw bytes).
func (g *Generator) text(size int, word bool, enc string) string {
	r := g.rng
	var b strings.Builder
	line := 0
	wordAt := -1
	if word {
		wordAt = r.IntN(max(size-len(Word), 1))
	}
	for b.Len() < size {
		var w string
		switch {
		case wordAt >= 0 && b.Len() >= wordAt:
			w, wordAt = Word, -1
		case r.IntN(12) == 0:
			w = pick(r, accented)
		default:
			w = pick(r, vocabulary)
		}
		switch enc {
		case "latin1":
			w = toLatin1(w)
		case "qp":
			w = qpEncode(toLatin1(w))
		}
		if line > 0 && line+1+len(w) > 72 {
			b.WriteByte('\n')
			line = 0
			if r.IntN(8) == 0 {
				b.WriteByte('\n') // paragraph
			}
		} else if line > 0 {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += len(w)
	}
	if wordAt >= 0 { // size was smaller than where the word was to go
		b.WriteString(" " + Word)
	}
	b.WriteByte('\n')
	return b.String()
}

// toLatin1 converts s (UTF-8, Latin-1 letters only) to ISO-8859-1 bytes.
func toLatin1(s string) string {
	out := make([]byte, 0, len(s))
	for _, c := range s {
		out = append(out, byte(c))
	}
	return string(out)
}

func qpEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || c == '=' {
			fmt.Fprintf(&b, "=%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func html(text string) string {
	var b strings.Builder
	b.WriteString("<html><head><meta charset=\"utf-8\"></head><body>\n")
	for _, p := range strings.Split(text, "\n\n") {
		b.WriteString("<p>")
		b.WriteString(strings.ReplaceAll(p, "\n", "<br>\n"))
		b.WriteString("</p>\n")
	}
	b.WriteString("</body></html>\n")
	return b.String()
}

// writeBase64 writes n bytes of src (all of it if n < 0) as base64 in
// 76-character lines, streaming.
func writeBase64(w io.Writer, src io.Reader, n int64) error {
	if n >= 0 {
		src = io.LimitReader(src, n)
	}
	lw := &lineWriter{w: w}
	enc := base64.NewEncoder(base64.StdEncoding, lw)
	if _, err := io.Copy(enc, src); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	return lw.end()
}

// lineWriter breaks a stream into LF-terminated lines of 76 characters.
type lineWriter struct {
	w   io.Writer
	col int
}

func (l *lineWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(76-l.col, len(p))
		if _, err := l.w.Write(p[:k]); err != nil {
			return n, err
		}
		n += k
		l.col += k
		p = p[k:]
		if l.col == 76 {
			if _, err := l.w.Write([]byte{'\n'}); err != nil {
				return n, err
			}
			l.col = 0
		}
	}
	return n, nil
}

func (l *lineWriter) end() error {
	if l.col == 0 {
		return nil
	}
	l.col = 0
	_, err := l.w.Write([]byte{'\n'})
	return err
}

// randomReader is an endless stream of PRNG bytes.
type randomReader struct{ r *rand.Rand }

func (rr randomReader) Read(p []byte) (int, error) {
	i := 0
	for ; i+8 <= len(p); i += 8 {
		v := rr.r.Uint64()
		for k := range 8 {
			p[i+k] = byte(v >> (8 * k))
		}
	}
	if i < len(p) {
		v := rr.r.Uint64()
		for ; i < len(p); i++ {
			p[i] = byte(v)
			v >>= 8
		}
	}
	return len(p), nil
}

func pick(r *rand.Rand, list []string) string { return list[r.IntN(len(list))] }

var people = []string{"Alice Martin", "Bob Keller", "Carol Nguyen", "David Okafor", "Eva Lindqvist", "Frank Moreau",
	"Grace Hopper", "Hiro Tanaka", "Ines Duarte", "Jamal Reed", "Katja Weber", "Luis Ortega", "Mona Haddad", "Nils Berg"}

var hosts = []string{"example.com", "example.net", "mail.example.org", "lists.example.com", "corp.example", "shop.example.net"}

var mailers = []string{"Thunderbird 115.4", "Apple Mail (2.3731)", "Microsoft Outlook 16.0", "aerc 0.17", "Mutt/2.2.12", "Roundcube Webmail/1.6"}

var accented = []string{"café", "naïve", "résumé", "façade", "über", "Größe", "señor", "año", "crème", "déjà", "Ærø", "smørrebrød"}

var vocabulary = strings.Fields(`the of and to in is you that it he was for on are as with his they at be this have from or
one had by word but not what all were we when your can said there use an each which she do how their if will up other about
out many then them these so some her would make like him into time has look two more write go see number no way could people
my than first water been call who oil its now find long down day did get come made may part meeting project budget report
deadline review schedule invoice contract proposal quarterly update draft agenda minutes customer release server backup
network deploy feedback question answer thanks regards please attached document version change request approval status
office travel lunch weekend holiday team manager colleague friend family garden coffee morning evening tomorrow yesterday`)

// BigName is the file name of the large attachment.
const BigName = "dataset.bin"

// WriteBig writes, streaming, a message whose part 2 is an attachment of
// size PRNG bytes, and returns the attachment's SHA-256 and its first
// 1000 bytes.
func WriteBig(w io.Writer, seed uint64, size int64, date time.Time) (sum [32]byte, head []byte, err error) {
	g := NewGenerator(seed, 1, DefaultMix, date)
	var hdr bytes.Buffer
	g.header(&hdr, date)
	b := g.boundary()
	fmt.Fprintf(&hdr, "Content-Type: multipart/mixed; boundary=%q\n\n", b)
	fmt.Fprintf(&hdr, "--%s\nContent-Type: text/plain; charset=utf-8\n\nThe data set is attached.\n\n", b)
	fmt.Fprintf(&hdr, "--%s\nContent-Type: application/octet-stream; name=%q\nContent-Disposition: attachment; filename=%q\nContent-Transfer-Encoding: base64\n\n", b, BigName, BigName)
	if _, err := w.Write(hdr.Bytes()); err != nil {
		return sum, nil, err
	}
	h := sha256.New()
	hb := &headBuffer{n: 1000}
	src := io.TeeReader(io.LimitReader(randomReader{rand.New(rand.NewPCG(seed, ^seed))}, size), io.MultiWriter(h, hb))
	bw := bufio.NewWriterSize(w, 1<<20)
	if err := writeBase64(bw, src, -1); err != nil {
		return sum, nil, err
	}
	fmt.Fprintf(bw, "--%s--\n", b)
	if err := bw.Flush(); err != nil {
		return sum, nil, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, hb.b, nil
}

// headBuffer keeps the first n bytes written to it.
type headBuffer struct {
	n int
	b []byte
}

func (h *headBuffer) Write(p []byte) (int, error) {
	if k := h.n - len(h.b); k > 0 {
		h.b = append(h.b, p[:min(k, len(p))]...)
	}
	return len(p), nil
}
