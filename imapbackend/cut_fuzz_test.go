package imapbackend_test

import (
	"bytes"
	"io/fs"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/imapfs/imapfs"
	"github.com/imapfs/imapfs/imapbackend"
)

// FuzzCutParts cuts fuzzed messages with the structure go-imap's server
// gives them, sizes left true or one of them made to lie by delta. Every
// part CutParts returns must be a sub-slice of the TEXT, of a leaf
// section the structure has, exactly the size the structure gives; and
// while the sizes are true, the server's BODY[section] byte for byte,
// wherever the server's BODY[section] has the size its BODYSTRUCTURE says.
func FuzzCutParts(f *testing.F) {
	fs.WalkDir(imapfs.SampleMail, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".eml") {
			if b, err := fs.ReadFile(imapfs.SampleMail, p); err == nil {
				f.Add(b, uint8(0), int16(0))
			}
		}
		return nil
	})
	for _, seed := range []string{
		"Content-Type: multipart/mixed; boundary=B\r\n\r\npre\r\n--B\r\n\r\none\r\n--B \t\r\nContent-Type: text/plain\r\n\r\ntwo\r\n--B--\r\nepilogue",
		"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: multipart/alternative; boundary=C\r\n\r\n--C\r\n\r\na\r\n--C\r\n\r\nb\r\n--C--\r\n\r\n--B--\r\n",
		"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\r\n--Bogus\r\n--B\r\n\r\nx\r\n--B--",
		"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n\r\nx\r\n----\r\n",
		"Content-Type: text/plain\r\n\r\nsingle part\r\n",
		"Content-Type: multipart/mixed; boundary=B\n\n--B\n\nlf only\n--B--\n",
	} {
		f.Add([]byte(seed), uint8(1), int16(-1))
	}
	f.Fuzz(func(t *testing.T, msg []byte, lie uint8, delta int16) {
		body := extractStructure(msg)
		if body == nil {
			return
		}
		parts := imapbackend.LeafParts(body)
		text := imapserver.ExtractBodySection(bytes.NewReader(msg), &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText})
		lying := lie != 0 && delta != 0 && len(parts) > 0
		if lying {
			parts[int(lie)%len(parts)].Size += int64(delta)
		}
		st := &imapbackend.Structure{Body: body, Parts: parts}
		got := imapbackend.CutParts(st, text)
		for section, b := range got {
			var part *imapbackend.Part
			for i := range parts {
				if parts[i].Section == section {
					part = &parts[i]
				}
			}
			if part == nil {
				t.Fatalf("part %s cut, not in the structure %v", section, partSections(parts))
			}
			if int64(len(b)) != part.Size {
				t.Errorf("part %s cut %d bytes, the structure says %d", section, len(b), part.Size)
			}
			if !subslice(b, text) {
				t.Errorf("part %s (%d bytes) is not a slice of TEXT", section, len(b))
			}
			if lying {
				continue
			}
			server := imapserver.ExtractBodySection(bytes.NewReader(msg), &imap.FetchItemBodySection{Part: part.Path})
			if int64(len(server)) != part.Size {
				// The server disagrees with itself (go-imap takes "multipart"
				// without a subtype as multipart in BODYSTRUCTURE, not in
				// BODY[n]): no truth to compare with.
				continue
			}
			if !bytes.Equal(b, server) {
				t.Errorf("part %s cut as %q, the server's is %q", section, b, server)
			}
		}
	})
}

// extractStructure is go-imap's server's BODYSTRUCTURE of msg; nil for
// what the library itself cannot parse (its panics are not CutParts').
func extractStructure(msg []byte) (body imap.BodyStructure) {
	defer func() {
		if recover() != nil {
			body = nil
		}
	}()
	return imapserver.ExtractBodyStructure(bytes.NewReader(msg))
}

func partSections(parts []imapbackend.Part) []string {
	var s []string
	for _, p := range parts {
		s = append(s, p.Section)
	}
	return s
}

// subslice reports whether b lies within text's memory.
func subslice(b, text []byte) bool {
	if len(b) == 0 {
		return true
	}
	for i := 0; i+len(b) <= len(text); i++ {
		if &text[i] == &b[0] {
			return true
		}
	}
	return false
}
