package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// chartSeries are the bars of each group.
var chartSeries = []struct {
	name  string
	color color.RGBA
	value func(*Cell) (float64, bool)
}{
	{"imapfs 1st pass", color.RGBA{0x1f, 0x77, 0xb4, 0xff}, func(c *Cell) (float64, bool) { return measured(c.First) }},
	{"imapfs 2nd pass", color.RGBA{0xae, 0xc7, 0xe8, 0xff}, func(c *Cell) (float64, bool) { return measured(c.Second) }},
	{"(a) bound: one UID FETCH", color.RGBA{0x2c, 0xa0, 0x2c, 0xff}, func(c *Cell) (float64, bool) { return measured(c.Bound) }},
	{"(b) mbsync + grep", color.RGBA{0xd6, 0x27, 0x28, 0xff}, func(c *Cell) (float64, bool) {
		if c.Mbsync == nil || c.Mbsync.Err != "" {
			return 0, false
		}
		return c.Mbsync.Total, true
	}},
}

// measured is m's wall time, also for a timed-out pass (drawn up to the
// timeout and labelled "> ...").
func measured(m *Measure) (float64, bool) {
	if m == nil || (!m.ok() && !m.TimedOut) {
		return 0, false
	}
	return m.Wall, true
}

// chartRTT is the round trip the chart shows: the slowest measured.
func (rep *Report) chartRTT() int {
	rtt := 0
	for _, c := range rep.Cells {
		if c.Skip == "" {
			rtt = max(rtt, c.RTT)
		}
	}
	return rtt
}

// chart draws grouped bars of wall time per operation (1,000 messages, or
// the large attachment) at the slowest round trip, on a log scale.
func (rep *Report) chart() ([]byte, error) {
	rtt := rep.chartRTT()
	type group struct {
		label string
		cell  *Cell
	}
	var groups []group
	for _, op := range allOps {
		folder := folder1k
		if op == opCp || op == opHead {
			folder = bigFolder
		}
		if c := rep.find(op, folder, rtt); c != nil && c.Skip == "" {
			groups = append(groups, group{op, c})
		}
	}

	const (
		w, h                       = 1300, 560
		left, right, top, bottom   = 80, 20, 60, 110
		minDecade, defaultMaxValue = -3, 10.0 // 1 ms
	)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	black := color.RGBA{0, 0, 0, 0xff}
	grey := color.RGBA{0xdd, 0xdd, 0xdd, 0xff}

	maxValue := defaultMaxValue
	for _, g := range groups {
		for _, s := range chartSeries {
			if v, ok := s.value(g.cell); ok {
				maxValue = math.Max(maxValue, v)
			}
		}
	}
	maxDecade := int(math.Ceil(math.Log10(maxValue)))
	plotH := float64(h - top - bottom)
	y := func(v float64) int {
		v = math.Max(v, math.Pow(10, minDecade))
		f := (math.Log10(v) - minDecade) / float64(maxDecade-minDecade)
		return h - bottom - int(f*plotH)
	}
	for d := minDecade; d <= maxDecade; d++ {
		yy := y(math.Pow(10, float64(d)))
		hline(img, left, w-right, yy, grey)
		text(img, 8, yy+4, seconds(math.Pow(10, float64(d))), black)
	}
	vline(img, left, top, h-bottom, black)
	hline(img, left, w-right, h-bottom, black)
	text(img, left, 24, fmt.Sprintf("Wall time at %d ms round trip (log scale): 1,000 messages; cp/head: %s attachment", rtt, size(rep.bigSize())), black)

	if len(groups) > 0 {
		groupW := (w - left - right) / len(groups)
		barW := (groupW - 20) / len(chartSeries)
		for gi, g := range groups {
			x0 := left + gi*groupW + 10
			for si, s := range chartSeries {
				v, ok := s.value(g.cell)
				x := x0 + si*barW
				if !ok {
					continue
				}
				fill(img, image.Rect(x+2, y(v), x+barW-2, h-bottom), s.color)
				label := seconds(v)
				if si < 3 && []*Measure{g.cell.First, g.cell.Second, g.cell.Bound}[si].TimedOut {
					label = "> " + label
				}
				text(img, x+2, y(v)-4, label, black)
			}
			text(img, x0+groupW/2-len(g.label)*7/2-10, h-bottom+18, g.label, black)
		}
	}
	for si, s := range chartSeries {
		x := left + (si%2)*400
		yy := h - bottom + 45 + (si/2)*22
		fill(img, image.Rect(x, yy-10, x+14, yy+2), s.color)
		text(img, x+20, yy, s.name, black)
	}

	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

func hline(img *image.RGBA, x0, x1, y int, c color.Color) {
	fill(img, image.Rect(x0, y, x1, y+1), c)
}

func vline(img *image.RGBA, x, y0, y1 int, c color.Color) {
	fill(img, image.Rect(x, y0, x+1, y1), c)
}
