package fs

import (
	"bytes"
	"encoding/base64"
	"errors"
	"math/rand"
	"testing"
)

// encodeLines encodes b in base64 lines of n characters ended by eol.
func encodeLines(b []byte, n int, eol string) []byte {
	enc := base64.StdEncoding.EncodeToString(b)
	var out bytes.Buffer
	for len(enc) > n {
		out.WriteString(enc[:n] + eol)
		enc = enc[n:]
	}
	out.WriteString(enc + eol)
	return out.Bytes()
}

func TestBase64LayoutRanges(t *testing.T) {
	payload := make([]byte, 10000)
	rand.New(rand.NewSource(1)).Read(payload)
	for _, l := range []b64Layout{{76, 2}, {64, 1}, {4, 2}} {
		eol := "\r\n"
		if l.eol == 1 {
			eol = "\n"
		}
		raw := encodeLines(payload, int(l.line), eol)
		if got, ok := detectLayout(raw); !ok || got != l {
			t.Errorf("detectLayout = %v, %v; want %v", got, ok, l)
		}
		for _, r := range [][2]int64{{0, 1}, {0, 10000}, {1, 2}, {56, 58}, {57, 114}, {1000, 4321}, {9990, 10000}, {9999, 10000}} {
			r0, r1, c0, skip := l.rawRange(r[0], r[1])
			r1 = min(r1, int64(len(raw)))
			window := append([]byte(nil), raw[r0:r1]...)
			data, err := l.decode(window, c0, newBytes)
			if err != nil {
				t.Errorf("layout %v, range %v: raw %d..%d: %v", l, r, r0, r1, err)
				continue
			}
			if got := data[skip : skip+r[1]-r[0]]; !bytes.Equal(got, payload[r[0]:r[1]]) {
				t.Errorf("layout %v, range %v: other bytes", l, r)
			}
		}
	}
}

func TestBase64LayoutMismatch(t *testing.T) {
	payload := make([]byte, 3000)
	raw := encodeLines(payload, 72, "\r\n")
	r0, r1, c0, _ := defaultLayout.rawRange(100, 2000)
	if _, err := defaultLayout.decode(append([]byte(nil), raw[r0:r1]...), c0, newBytes); !errors.Is(err, errLayout) {
		t.Errorf("72-character lines read as 76: %v, want errLayout", err)
	}
	junk := encodeLines(payload, 76, "\r\n")
	junk[500] = '!'
	r0, r1, c0, _ = defaultLayout.rawRange(0, 3000)
	if _, err := defaultLayout.decode(junk[r0:min(r1, int64(len(junk)))], c0, newBytes); !errors.Is(err, errLayout) {
		t.Errorf("a stray character: %v, want errLayout", err)
	}
}

func TestBase64LayoutLineEndInsideALine(t *testing.T) {
	raw := encodeLines(make([]byte, 3000), 76, "\r\n")
	raw[100] = '\n' // inside the second line
	r0, r1, c0, _ := defaultLayout.rawRange(0, 3000)
	if _, err := defaultLayout.decode(raw[r0:min(r1, int64(len(raw)))], c0, newBytes); !errors.Is(err, errLayout) {
		t.Errorf("a line end inside a line: %v, want errLayout", err)
	}
}

func newBytes(n int) []byte { return make([]byte, n) }
