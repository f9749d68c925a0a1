package main

import (
	"bytes"
	"crypto/sha256"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset"
)

// TestGenerator checks that generated messages parse as MIME, have the
// declared shape, and carry Word exactly where GenInfo says: the grep
// benchmark's expected counts come from it.
func TestGenerator(t *testing.T) {
	g := NewGenerator(7, 400, DefaultMix, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	shapes := map[Shape]int{}
	hidden := 0
	var prev time.Time
	for i := range 400 {
		var buf bytes.Buffer
		info := g.Next(&buf)
		shapes[info.Shape]++
		if info.Date.Before(prev) {
			t.Errorf("message %d dated %v, before the previous %v", i, info.Date, prev)
		}
		prev = info.Date
		texts, leaves, err := decodedTexts(buf.Bytes())
		if err != nil {
			t.Fatalf("message %d (%v) does not parse: %v\n%s", i, info.Shape, err, buf.String())
		}
		if want := wantLeaves[info.Shape]; leaves != want {
			t.Errorf("message %d (%v): %d leaf parts, want %d", i, info.Shape, leaves, want)
		}
		if got := strings.Contains(texts, Word); got != info.Word {
			t.Errorf("message %d (%v): decoded text has the word: %v, GenInfo says %v", i, info.Shape, got, info.Word)
		}
		if info.RawWord && !info.Word {
			t.Errorf("message %d (%v): the word is in the raw bytes only", i, info.Shape)
		}
		if info.Word && !info.RawWord {
			hidden++
			if info.Shape != ShapeBase64Text {
				t.Errorf("message %d (%v): the word is hidden from a raw grep", i, info.Shape)
			}
		}
	}
	for s := range numShapes {
		if shapes[s] == 0 {
			t.Errorf("no %v message among 400", s)
		}
	}
	t.Logf("shapes %v, %d with the word only in base64", shapes, hidden)
	if hidden == 0 {
		t.Error("no message hides the word in a base64 text part")
	}
}

var wantLeaves = map[Shape]int{ShapePlain: 1, ShapeQuoted: 1, ShapeLatin8bit: 1, ShapeAlternative: 2,
	ShapeAttachment: 2, ShapeBase64Text: 2, ShapeForward: 2}

// decodedTexts returns the decoded, UTF-8 text of every text part (also
// inside a forwarded message) and the number of leaf parts (a forwarded
// message counts as one, as IMAP's part 2 of the outer message).
func decodedTexts(raw []byte) (string, int, error) {
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		return "", 0, err
	}
	var texts strings.Builder
	leaves := 0
	err = e.Walk(func(_ []int, part *message.Entity, err error) error {
		if err != nil {
			return err
		}
		t, _, _ := part.Header.ContentType()
		if strings.HasPrefix(t, "multipart/") {
			return nil
		}
		leaves++
		body, err := io.ReadAll(part.Body)
		if err != nil {
			return err
		}
		switch {
		case t == "message/rfc822":
			inner, _, err := decodedTexts(body)
			if err != nil {
				return err
			}
			texts.WriteString(inner)
		case strings.HasPrefix(t, "text/"):
			texts.Write(body)
		}
		return nil
	})
	return texts.String(), leaves, err
}

func TestWriteBig(t *testing.T) {
	var buf bytes.Buffer
	sum, head, err := WriteBig(&buf, 3, 100000, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e, err := message.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	mr := e.MultipartReader()
	if mr == nil {
		t.Fatal("not multipart")
	}
	var parts [][]byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, b)
	}
	if len(parts) != 2 || len(parts[1]) != 100000 {
		t.Fatalf("%d parts; want 2, the second of 100000 bytes", len(parts))
	}
	if got := sha256Sum(parts[1]); got != sum {
		t.Error("part 2's SHA-256 differs from the one WriteBig returned")
	}
	if !bytes.Equal(parts[1][:1000], head) {
		t.Error("WriteBig's head differs from the part's first 1000 bytes")
	}
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
