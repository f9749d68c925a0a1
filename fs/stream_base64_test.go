package fs

import (
	"bytes"
	"encoding/base64"
	"errors"
	"math/rand"
	"testing"

	"github.com/imapfs/imapfs/imapbackend"
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

// probeOf is what a probe of raw (a part of len(raw) bytes by
// BODYSTRUCTURE, or claimed bytes) brings back from a server holding raw.
func probeOf(raw []byte, claimed int) imapbackend.Probe {
	n := imapbackend.ProbeSize
	tail := raw[min(max(claimed-n, 1), len(raw)):min(max(claimed-n, 1)+n+1, len(raw))]
	return imapbackend.Probe{Head: raw[:min(n, len(raw))], Tail: tail}
}

// TestBase64SizeFromProbe: the size worked out from a probe is the size of
// the decoded part, for every layout an encoder writes, whatever the
// padding; and nothing is worked out where the probe cannot tell: a size
// the server gives wrong either way, lines of varying length, junk.
func TestBase64SizeFromProbe(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	checked := 0
	for range 200 {
		payload := make([]byte, 9000+rng.Intn(200000))
		rng.Read(payload)
		line := []int{76, 64, 72, 4, 996, 1 << 30}[rng.Intn(6)]
		eol := []string{"\r\n", "\n"}[rng.Intn(2)]
		raw := encodeLines(payload, line, eol)
		if rng.Intn(3) == 0 {
			raw = bytes.TrimSuffix(raw, []byte(eol)) // no line end after the last line
		}
		if rng.Intn(4) == 0 {
			raw = append(raw, "\r\n\r\n"...) // blank lines before the boundary
		}
		if n, ok := base64Size(int64(len(raw)), probeOf(raw, len(raw))); !ok || n != int64(len(payload)) {
			t.Errorf("%d bytes in lines of %d (%q): worked out %d, %v", len(payload), line, eol, n, ok)
		}
		for _, claimed := range []int{len(raw) - 1, len(raw) + 1, len(raw) + 100} {
			if n, ok := base64Size(int64(claimed), probeOf(raw, claimed)); ok {
				t.Errorf("%d raw bytes said to be %d: worked out %d", len(raw), claimed, n)
			}
		}
		checked++
	}
	payload := make([]byte, 100000)
	rng.Read(payload)
	enc := base64.StdEncoding.EncodeToString(payload)
	var varying bytes.Buffer
	for len(enc) > 0 {
		n := min(len(enc), 4*(10+rng.Intn(10)))
		varying.WriteString(enc[:n] + "\r\n")
		enc = enc[n:]
	}
	junk := encodeLines(payload, 76, "\r\n")
	junk[len(junk)-100] = '*'
	for name, raw := range map[string][]byte{"varying lines": varying.Bytes(), "junk in the tail": junk} {
		if n, ok := base64Size(int64(len(raw)), probeOf(raw, len(raw))); ok {
			t.Errorf("%s: worked out %d for %d bytes decoded", name, n, len(payload))
		}
	}
	t.Logf("%d layouts checked", checked)
}
