package fs_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand"
	"mime/quotedprintable"
	"strings"

	"github.com/emersion/go-message"
)

// A generator of message shapes for the exact-bytes tests: large parts
// first, in the middle and last; several large parts; base64 in lines of
// 76 and 64 characters and unbroken; quoted-printable; large parts inside
// message/rfc822. Each shape is built from a seed, so a failure names a
// message that can be made again.

// shapePart is one part of a generated message.
type shapePart struct {
	kind  string // "text", "b64", "qp" or "rfc822"
	size  int    // decoded bytes (for rfc822: of its inner parts)
	line  int    // base64 line width; 0 for one unbroken line
	name  string // file name of an attachment; "" for inline text
	inner []shapePart
	// quirk breaks a base64 layout at line quirkAt (a fraction of the
	// lines), keeping its byte count, so that a probe of the two ends
	// cannot see it: "lines" makes two lines 72 and 80 characters long
	// (the same bytes decoded); "blanks" turns a group of four characters
	// into white space, which decoders skip (3 bytes fewer than the
	// layout says); "joined" puts two characters where two line ends
	// were, twice (3 bytes more); "shifted" does both, blanks at quirkAt
	// and joined further on, so that the size is as the layout says but
	// every byte between the two is 3 bytes off where the layout puts it.
	quirk   string
	quirkAt float64
}

// shape is one generated message: its parts at the top level (one part
// makes a message that is not multipart). A resized shape has a part
// whose size can only be known by reading it: stat may say otherwise
// before the first read.
type shape struct {
	name    string
	parts   []shapePart
	resized bool
}

const bigPart = 1 << 20 // the smallest "large" part

// messageShapes lists the shapes the exact-bytes tests check. Sizes are
// drawn around bigPart, so that base64 padding and the last line's length
// vary from shape to shape.
func messageShapes(rng *rand.Rand) []shape {
	big := func() int { return bigPart + rng.Intn(bigPart/2) }
	small := func() []shapePart {
		return []shapePart{{kind: "text", size: 300 + rng.Intn(2000)}}
	}
	attachment := func(kind string, line int) shapePart {
		n := rng.Intn(1 << 30)
		return shapePart{kind: kind, size: big(), line: line, name: fmt.Sprintf("big-%d.bin", n)}
	}
	tail := func() shapePart {
		return shapePart{kind: "b64", size: 40000 + rng.Intn(3), line: 76, name: fmt.Sprintf("small-%d.bin", rng.Intn(1<<30))}
	}
	var shapes []shape
	layouts := []struct {
		kind string
		line int
	}{{"b64", 76}, {"b64", 64}, {"b64", 0}, {"qp", 0}}
	for _, l := range layouts {
		label := l.kind
		if l.kind == "b64" {
			label = fmt.Sprintf("b64-%d", l.line)
		}
		shapes = append(shapes,
			shape{name: label + "-first", parts: []shapePart{attachment(l.kind, l.line), small()[0], tail()}},
			shape{name: label + "-middle", parts: []shapePart{small()[0], attachment(l.kind, l.line), tail()}},
			shape{name: label + "-last", parts: []shapePart{small()[0], tail(), attachment(l.kind, l.line)}},
			shape{name: label + "-alone", parts: []shapePart{attachment(l.kind, l.line)}},
		)
	}
	quirky := func(quirk string, at float64) shapePart {
		p := attachment("b64", 76)
		p.quirk, p.quirkAt = quirk, at
		return p
	}
	shapes = append(shapes,
		shape{name: "b64-lines-middle", parts: []shapePart{small()[0], quirky("lines", 0.6), tail()}},
		shape{name: "b64-blanks-middle", parts: []shapePart{small()[0], quirky("blanks", 0.6), tail()}, resized: true},
		shape{name: "b64-joined-middle", parts: []shapePart{small()[0], quirky("joined", 0.7), tail()}, resized: true},
		shape{name: "b64-blanks-head", parts: []shapePart{quirky("blanks", 0.01), tail()}, resized: true},
		shape{name: "three-large", parts: []shapePart{small()[0], attachment("b64", 76), attachment("b64", 76), attachment("b64", 76)}},
		shape{name: "mixed-large", parts: []shapePart{attachment("qp", 0), attachment("b64", 64), small()[0], attachment("b64", 0), tail()}},
		shape{name: "rfc822-middle", parts: []shapePart{small()[0], {kind: "rfc822", inner: []shapePart{small()[0], attachment("b64", 76), tail()}}, tail()}},
		shape{name: "rfc822-last", parts: []shapePart{small()[0], {kind: "rfc822", inner: []shapePart{attachment("b64", 76), attachment("qp", 0)}}}},
		shape{name: "rfc822-single", parts: []shapePart{small()[0], {kind: "rfc822", inner: []shapePart{attachment("b64", 64)}}, tail()}},
	)
	return shapes
}

// build writes the message of a shape, with CRLF line ends.
func (s shape) build(rng *rand.Rand) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Shapes <shapes@example.org>\r\nTo: you@example.org\r\nSubject: shape %s\r\nDate: Sun, 06 Dec 2026 10:00:00 +0000\r\nMessage-ID: <%s.%d@example.org>\r\nMIME-Version: 1.0\r\n", s.name, s.name, rng.Int63())
	writeBody(&b, s.parts, rng)
	return b.Bytes()
}

// writeBody writes the rest of a header (the Content-Type lines) and the
// body for parts: one part alone, or a multipart/mixed of them.
func writeBody(b *bytes.Buffer, parts []shapePart, rng *rand.Rand) {
	if len(parts) == 1 {
		writePart(b, parts[0], rng)
		return
	}
	boundary := fmt.Sprintf("=_b%d", rng.Int63())
	fmt.Fprintf(b, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\nThis is a multi-part message.\r\n", boundary)
	for _, p := range parts {
		fmt.Fprintf(b, "--%s\r\n", boundary)
		writePart(b, p, rng)
		b.WriteString("\r\n")
	}
	fmt.Fprintf(b, "--%s--\r\n", boundary)
}

// writePart writes one part's header fields, a blank line and its body.
func writePart(b *bytes.Buffer, p shapePart, rng *rand.Rand) {
	disposition := ""
	if p.name != "" {
		disposition = fmt.Sprintf("Content-Disposition: attachment; filename=\"%s\"\r\n", p.name)
	}
	switch p.kind {
	case "text":
		fmt.Fprintf(b, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n")
		for p.size > 0 {
			line := min(p.size, 60)
			b.WriteString(strings.Repeat("w", line-1) + "\r\n")
			p.size -= line + 1
		}
	case "b64":
		fmt.Fprintf(b, "Content-Type: application/octet-stream\r\n%sContent-Transfer-Encoding: base64\r\n\r\n", disposition)
		data := make([]byte, p.size)
		rng.Read(data)
		enc := base64.StdEncoding.EncodeToString(data)
		if p.line == 0 {
			b.WriteString(enc + "\r\n")
			break
		}
		var lines []string
		for len(enc) > 0 {
			n := min(p.line, len(enc))
			lines = append(lines, enc[:n])
			enc = enc[n:]
		}
		i, j := int(p.quirkAt*float64(len(lines))), int((p.quirkAt+0.3)*float64(len(lines)))
		if p.quirk != "" && j+3 < len(lines)-1 {
			switch p.quirk {
			case "lines":
				lines[i], lines[i+1] = lines[i][:72], lines[i][72:]+lines[i+1]
			case "blanks":
				lines[i] = blanks(lines[i])
			case "joined":
				lines = joined(lines, i)
			case "shifted":
				lines[i] = blanks(lines[i])
				lines = joined(lines, j)
			}
		}
		for _, l := range lines {
			b.WriteString(l + "\r\n")
		}
	case "qp":
		fmt.Fprintf(b, "Content-Type: text/plain; charset=utf-8\r\n%sContent-Transfer-Encoding: quoted-printable\r\n\r\n", disposition)
		w := quotedprintable.NewWriter(b)
		w.Write(qpText(rng, p.size))
		w.Close()
		b.WriteString("\r\n")
	case "rfc822":
		fmt.Fprintf(b, "Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n")
		fmt.Fprintf(b, "From: Inner <inner@example.org>\r\nSubject: forwarded\r\nMIME-Version: 1.0\r\n")
		writeBody(b, p.inner, rng)
	}
}

// blanks turns four characters of a base64 line into white space.
func blanks(line string) string { return line[:8] + " \t  " + line[12:] }

// joined puts two base64 characters in place of the line ends after lines
// i and i+1, keeping the byte count.
func joined(lines []string, i int) []string {
	lines[i] += "QQ" + lines[i+1] + "QQ" + lines[i+2]
	return append(lines[:i+1], lines[i+3:]...)
}

// qpText is text that quoted-printable encodes in every way it can: long
// lines (soft breaks), UTF-8 (=XX), '=' itself, trailing spaces.
func qpText(rng *rand.Rand, n int) []byte {
	words := []string{"grüße", "quoted", "=", "printable", "naïve", "tab\there", "x ", "long"}
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[rng.Intn(len(words))])
		switch rng.Intn(12) {
		case 0:
			b.WriteString("\r\n")
		case 1:
			b.WriteString(" \r\n")
		default:
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}

// expectedFiles decodes a whole message (BODY.PEEK[] as the server has
// it) independently of imapfs, with go-message, into the files its
// directory must hold: HEADER, TEXT, message.eml and one file per leaf
// part by IMAP section number.
func expectedFiles(raw []byte) (map[string][]byte, error) {
	files := map[string][]byte{"message.eml": raw}
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	if end < 0 {
		return nil, fmt.Errorf("no end of header")
	}
	files["HEADER"], files["TEXT"] = raw[:end+4], raw[end+4:]
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if err := expectBody(files, e, ""); err != nil {
		return nil, err
	}
	return files, nil
}

// expectBody adds the leaf parts of a message body numbered below prefix
// (RFC 3501 6.4.5: a body that is not multipart is part 1 of it).
func expectBody(files map[string][]byte, e *message.Entity, prefix string) error {
	if mr := e.MultipartReader(); mr != nil {
		return expectChildren(files, mr, prefix)
	}
	return expectLeaf(files, e, sectionJoin(prefix, "1"))
}

func expectChildren(files map[string][]byte, mr message.MultipartReader, prefix string) error {
	for i := 1; ; i++ {
		child, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		section := sectionJoin(prefix, fmt.Sprint(i))
		if cmr := child.MultipartReader(); cmr != nil {
			if err := expectChildren(files, cmr, section); err != nil {
				return err
			}
			continue
		}
		if err := expectLeaf(files, child, section); err != nil {
			return err
		}
	}
}

// expectLeaf adds one leaf part: its decoded body; for message/rfc822 the
// encapsulated message as is, followed by its own parts.
func expectLeaf(files map[string][]byte, e *message.Entity, section string) error {
	body, err := io.ReadAll(e.Body)
	if err != nil {
		return fmt.Errorf("part %s: %w", section, err)
	}
	files[section] = body
	if _, params, err := e.Header.ContentDisposition(); err == nil && params["filename"] != "" {
		files["attachments/"+params["filename"]] = body
	}
	if t, _, _ := e.Header.ContentType(); t == "message/rfc822" {
		inner, err := message.Read(bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("part %s: %w", section, err)
		}
		return expectBody(files, inner, section)
	}
	return nil
}

func sectionJoin(prefix, n string) string {
	if prefix == "" {
		return n
	}
	return prefix + "." + n
}
