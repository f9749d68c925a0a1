package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Measure is one timed run of an operation.
type Measure struct {
	Wall       float64        `json:"wallSeconds"`
	Commands   int            `json:"commands"` // IMAP commands sent, IDLE excluded
	ByName     map[string]int `json:"byCommand,omitempty"`
	FromServer int64          `json:"bytesFromServer"`
	ToServer   int64          `json:"bytesToServer"`
	PeakRSSKiB int64          `json:"peakRSSKiB,omitempty"` // imapfs only
	Result     string         `json:"result,omitempty"`     // the answer that was checked
	Err        string         `json:"error,omitempty"`
	TimedOut   bool           `json:"timedOut,omitempty"`
}

func (m *Measure) ok() bool { return m != nil && m.Err == "" }

// done reports whether m finished or ran into the time limit: either way
// its wall time says something (a lower bound when timed out).
func (m *Measure) done() bool { return m != nil && (m.Err == "" || m.TimedOut) }

// Cell is one operation on one folder at one round-trip time.
type Cell struct {
	Op     string        `json:"op"`
	Folder string        `json:"folder"`
	RTT    int           `json:"rttMs"`
	First  *Measure      `json:"imapfsFirst,omitempty"`
	Second *Measure      `json:"imapfsSecond,omitempty"`
	Bound  *Measure      `json:"baselineBound,omitempty"`
	Mbsync *MbsyncResult `json:"baselineMbsync,omitempty"`
	Skip   string        `json:"skipped,omitempty"`
}

func (c *Cell) summary() string {
	s := fmt.Sprintf("imapfs %s (%s cmds), again %s (%s cmds); bound %s (%s cmds)",
		wall(c.First), cmds(c.First), wall(c.Second), cmds(c.Second), wall(c.Bound), cmds(c.Bound))
	if c.Mbsync != nil {
		s += "; mbsync + grep " + mbsyncText(c.Mbsync)
	}
	return s
}

// Report is everything a run produced.
type Report struct {
	Machine   map[string]string `json:"machine"`
	Folders   []*FolderStats    `json:"folders"`
	Big       *BigStats         `json:"big"`
	Cells     []*Cell           `json:"cells"`
	Failures  []string          `json:"failures,omitempty"`
	Elapsed   float64           `json:"elapsedSeconds"`
	Quick     bool              `json:"quick"`
	CacheSize string            `json:"cacheSize"`
	OpTimeout string            `json:"opTimeout"`
}

const (
	readmeBegin = "<!-- bench:begin -->"
	readmeEnd   = "<!-- bench:end -->"
)

func (rep *Report) write(dir, readme string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "RESULTS.md"), []byte(rep.markdown()), 0o644); err != nil {
		return err
	}
	png, err := rep.chart()
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "chart.png"), png, 0o644); err != nil {
		return err
	}
	if readme == "" {
		return nil
	}
	return rewriteReadme(readme, rep.summaryMarkdown())
}

// rewriteReadme replaces what lies between the bench markers.
func rewriteReadme(path, section string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	begin := bytes.Index(data, []byte(readmeBegin))
	end := bytes.Index(data, []byte(readmeEnd))
	if begin < 0 || end < begin {
		return errors.New(path + " has no " + readmeBegin + " ... " + readmeEnd + " section")
	}
	var out bytes.Buffer
	out.Write(data[:begin+len(readmeBegin)])
	out.WriteString("\n" + section)
	out.Write(data[end:])
	return os.WriteFile(path, out.Bytes(), 0o644)
}

// find returns the measured cell, or nil.
func (rep *Report) find(op, folder string, rtt int) *Cell {
	for _, c := range rep.Cells {
		if c.Op == op && c.Folder == folder && c.RTT == rtt {
			return c
		}
	}
	return nil
}

func (rep *Report) markdown() string {
	var b strings.Builder
	b.WriteString("# imapfs benchmark results\n\n")
	b.WriteString("Written by `make bench` (cmd/imapfs-bench); do not edit by hand.\n\n")
	if rep.Quick {
		b.WriteString("**Quick run** (`-quick`): 1,000-message folder at 0 and 50 ms only.\n\n")
	}
	if len(rep.Failures) > 0 {
		b.WriteString("## FAILURES\n\n")
		for _, f := range rep.Failures {
			fmt.Fprintf(&b, "- %s\n", strings.ReplaceAll(f, "\n", " "))
		}
		b.WriteString("\n")
	}
	b.WriteString("## Acceptance (issue 6)\n\n")
	b.WriteString(rep.acceptance())
	b.WriteString("\n## Method\n\n")
	fmt.Fprintf(&b, `- Dovecot %s on loopback, seeded by writing maildir files directly (names carry S= and W= sizes, mtimes are the INTERNALDATEs), then indexed once (SELECT and FETCH of the metadata; for the large attachment also its BINARY.SIZE, which Dovecot works out once, by decoding all of it, and then keeps in its index: 0.6 s for 100 MiB, paid otherwise by whichever cell came first) before anything is measured.
- A latency proxy adds half the round-trip time (RTT) in each direction without limiting bandwidth; at 0 ms it passes each chunk straight on, with no queue.
- imapfs: a fresh `+"`imapfs mount --read-only --idle FOLDER --poll-interval 0 --cache-size %s`"+` before each operation (1st pass, cold), the same operation again on the same mount right after (2nd pass). Commands are counted at the proxy, without the IDLE connection's IDLE (DONE is not a command). Peak RSS is the imapfs process's VmHWM, reset before each pass.
- (a) the bound: one SELECT (EXAMINE) and one pipelined `+"`UID FETCH 1:*`"+` of exactly what the operation needs, with go-imap directly through the same proxy: ls `+"`(UID FLAGS INTERNALDATE RFC822.SIZE)`"+`, ls -l the same + BODYSTRUCTURE, cat `+"`BODY.PEEK[HEADER]`"+`, grep `+"`BODY.PEEK[]`"+` (every file of a message derives from it), cp `+"`BINARY.PEEK[2]`"+` streamed to a file, head `+"`BINARY.PEEK[2]<0.1000>`"+`. Login is not timed.
- (b) what users do today: mbsync (isync) pulls the folder into a local maildir, then `+"`grep -r -l`"+` on it. Its grep sees raw files only: words inside base64-encoded text parts are invisible to it.
- Operations, run with sh in the mount point: `+"`ls F | wc -l`; `cd F && ls | xargs ls -l` (= `ls -l F/*`); `cd F && ls | sed 's|$|/HEADER|' | xargs cat` (= `cat F/*/HEADER`); `grep -r -l %s F`; `cp big/*/2 DEST`; `head -c 1000 big/*/2`"+`. Every answer is checked (entries listed, header bytes equal to the server's, messages matched equal to those generated with the word, SHA-256 of the copy); a wrong answer fails the run.
- One operation may take at most %s; cells over the time budget are skipped and say so.
`, rep.Machine["dovecot"], rep.CacheSize, Word, rep.OpTimeout)

	b.WriteString("\n## Folders\n\n| folder | messages | size | with the word (decoded) | (raw) | written | Dovecot's first SELECT+FETCH |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, f := range rep.Folders {
		if f == nil {
			continue
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %d | %d | %.1f s | %.1f s |\n", f.Name, f.Messages, size(f.Bytes), f.WordCount, f.RawWord, f.SeedTime, f.WarmTime)
	}
	if rep.Big != nil {
		fmt.Fprintf(&b, "| %s | 1 | %s attachment (part 2, base64) | | | | |\n", bigFolder, size(rep.Big.Size))
	}
	for _, op := range allOps {
		fmt.Fprintf(&b, "\n## %s\n\n", op)
		b.WriteString("| RTT | folder | imapfs 1st | imapfs 2nd | (a) bound | (b) mbsync + grep | 1st ÷ (a) | commands 1st / 2nd / (a) / (b) | bytes from server 1st / (a) | peak RSS 1st / 2nd | answer |\n")
		b.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
		for _, c := range rep.sorted(op) {
			if c.Skip != "" {
				fmt.Fprintf(&b, "| %d ms | %s | — | — | — | — | — | — | — | — | not measured: %s |\n", c.RTT, c.Folder, c.Skip)
				continue
			}
			mb := "—"
			mbCmds := "—"
			if c.Mbsync != nil {
				mb = mbsyncText(c.Mbsync)
				mbCmds = fmt.Sprint(c.Mbsync.Commands)
			}
			fmt.Fprintf(&b, "| %d ms | %s | %s | %s | %s | %s | %s | %s / %s / %s / %s | %s / %s | %s / %s | %s |\n",
				c.RTT, c.Folder, rep.wallThroughput(c.First, c), rep.wallThroughput(c.Second, c), rep.wallThroughput(c.Bound, c), mb, ratio(c.First, c.Bound),
				cmds(c.First), cmds(c.Second), cmds(c.Bound), mbCmds,
				bytesText(c.First), bytesText(c.Bound), rss(c.First), rss(c.Second), answer(c))
		}
	}
	b.WriteString("\n## Machine\n\n")
	keys := make([]string, 0, len(rep.Machine))
	for k := range rep.Machine {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "- %s: %s\n", k, strings.ReplaceAll(rep.Machine[k], "\n", " "))
	}
	fmt.Fprintf(&b, "- whole run: %.1f min\n", rep.Elapsed/60)
	b.WriteString("\n![wall time at 50 ms](chart.png)\n")
	return b.String()
}

// sorted returns op's cells by folder size, then RTT.
func (rep *Report) sorted(op string) []*Cell {
	order := map[string]int{folder1k: 0, folder10k: 1, folder100k: 2, bigFolder: 3}
	var cells []*Cell
	for _, c := range rep.Cells {
		if c.Op == op {
			cells = append(cells, c)
		}
	}
	sort.SliceStable(cells, func(i, j int) bool {
		if order[cells[i].Folder] != order[cells[j].Folder] {
			return order[cells[i].Folder] < order[cells[j].Folder]
		}
		return cells[i].RTT < cells[j].RTT
	})
	return cells
}

// summaryMarkdown is the README's section: the headline cells and the
// acceptance checks.
func (rep *Report) summaryMarkdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured by `make bench` on %s (%s CPUs, %s of memory), %s; %s. Full tables: [cmd/imapfs-bench/results/RESULTS.md](cmd/imapfs-bench/results/RESULTS.md).\n\n",
		rep.Machine["cpu"], rep.Machine["nproc"], rep.Machine["memory"], rep.Machine["date"], rep.Machine["imapfs"])
	b.WriteString("| operation | folder | RTT | imapfs 1st | imapfs 2nd | (a) bound | (b) mbsync + grep | commands 1st / 2nd / (a) |\n|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, h := range []struct {
		op, folder string
		rtt        int
	}{
		{opLs, folder100k, 0}, {opLs, folder1k, 50}, {opLsL, folder1k, 50}, {opCat, folder1k, 50},
		{opGrep, folder1k, 50}, {opGrep, folder10k, 0}, {opCp, bigFolder, 50}, {opHead, bigFolder, 50},
	} {
		c := rep.find(h.op, h.folder, h.rtt)
		if c == nil {
			continue
		}
		if c.Skip != "" {
			fmt.Fprintf(&b, "| `%s` | %s | %d ms | — | — | — | — | not measured: %s |\n", c.Op, c.Folder, c.RTT, c.Skip)
			continue
		}
		mb := "—"
		if c.Mbsync != nil {
			mb = mbsyncText(c.Mbsync)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %d ms | %s | %s | %s | %s | %s / %s / %s |\n", c.Op, c.Folder, c.RTT,
			rep.wallThroughput(c.First, c), rep.wallThroughput(c.Second, c), rep.wallThroughput(c.Bound, c), mb, cmds(c.First), cmds(c.Second), cmds(c.Bound))
	}
	b.WriteString("\nAcceptance criteria of issue 6, checked on these figures:\n\n" + rep.acceptance())
	return b.String()
}

// acceptance evaluates the acceptance criteria on the figures.
func (rep *Report) acceptance() string {
	var b strings.Builder
	mark := func(ok bool, known bool) string {
		switch {
		case !known:
			return "n/a"
		case ok:
			return "pass"
		}
		return "**FAIL**"
	}
	// 1. grep over 1,000 at 50 ms.
	if c := rep.find(opGrep, folder1k, 50); c != nil && c.First.done() && c.Bound.ok() {
		okA := c.First.Wall <= 2*c.Bound.Wall
		okB := c.Mbsync != nil && c.Mbsync.Err == "" && c.First.Wall < c.Mbsync.Total
		fmt.Fprintf(&b, "1. `grep -r` over 1,000 messages at 50 ms: %s vs (a) %s (%s, want ≤ 2×): %s; vs (b) %s: %s\n",
			wall(c.First), wall(c.Bound), ratio(c.First, c.Bound), mark(okA, true), mbsyncText(c.Mbsync), mark(okB, c.Mbsync != nil))
	} else {
		b.WriteString("1. `grep -r` over 1,000 messages at 50 ms: n/a (not measured or failed)\n")
	}
	// 2. ls of 100,000 at 0 ms.
	if c := rep.find(opLs, folder100k, 0); c != nil && c.First.done() {
		constant := true
		var counts []string
		for _, f := range []string{folder1k, folder10k, folder100k} {
			if o := rep.find(opLs, f, 0); o != nil && o.First.ok() {
				counts = append(counts, fmt.Sprintf("%s: %d", f, o.First.Commands))
				if o.First.Commands != c.First.Commands {
					constant = false
				}
			}
		}
		fmt.Fprintf(&b, "2. `ls` of 100,000 messages at 0 ms: %s (want < 3 s): %s; commands %s: %s\n",
			wall(c.First), mark(c.First.Wall < 3, true), strings.Join(counts, ", "), mark(constant, len(counts) > 1))
	} else {
		b.WriteString("2. `ls` of 100,000 messages at 0 ms: n/a (not measured or failed)\n")
	}
	// 3. cp and head of the large attachment.
	budget, _ := parseSize(rep.CacheSize)
	var lines []string
	for _, rtt := range []int{0, 10, 50} {
		c := rep.find(opCp, bigFolder, rtt)
		if c == nil || !c.First.done() || !c.Bound.ok() {
			continue
		}
		share := c.Bound.Wall / c.First.Wall
		rssOK := c.First.PeakRSSKiB > 0 && c.First.PeakRSSKiB*1024 < budget+64<<20
		lines = append(lines, fmt.Sprintf("%d ms: %.0f%% of (a)'s throughput (want ≥ 70%%): %s, peak RSS %s (want < %s + 64 MiB): %s",
			rtt, 100*share, mark(share >= 0.7, true), rss(c.First), rep.CacheSize, mark(rssOK, c.First.PeakRSSKiB > 0)))
		if h := rep.find(opHead, bigFolder, rtt); h != nil && h.First.done() {
			lines[len(lines)-1] += fmt.Sprintf("; `head -c 1000` transferred %s (want < 2 MiB): %s", size(h.First.FromServer), mark(h.First.FromServer < 2<<20, true))
		}
	}
	if len(lines) == 0 {
		b.WriteString("3. `cp` of the large attachment: n/a (not measured or failed)\n")
	} else {
		fmt.Fprintf(&b, "3. `cp` of the %s attachment: %s\n", size(rep.bigSize()), strings.Join(lines, "; "))
	}
	// 4. Second passes send nothing.
	var chatty []string
	n := 0
	for _, c := range rep.Cells {
		if c.Second.ok() {
			n++
			if c.Second.Commands > 0 {
				chatty = append(chatty, fmt.Sprintf("%s %s @%d ms: %d", c.Op, c.Folder, c.RTT, c.Second.Commands))
			}
		}
	}
	if len(chatty) == 0 {
		fmt.Fprintf(&b, "4. Second passes that sent IMAP commands: none of %d: %s\n", n, mark(true, n > 0))
	} else {
		fmt.Fprintf(&b, "4. Second passes that sent IMAP commands: %d of %d (%s): %s\n", len(chatty), n, strings.Join(chatty, "; "), mark(false, true))
	}
	fmt.Fprintf(&b, "5. Whole run: %.1f min (want < 15): %s\n", rep.Elapsed/60, mark(rep.Elapsed < 15*60, !rep.Quick))
	return b.String()
}

func (rep *Report) bigSize() int64 {
	if rep.Big == nil {
		return 0
	}
	return rep.Big.Size
}

func parseSize(s string) (int64, error) {
	var n int64
	var unit string
	if _, err := fmt.Sscanf(s, "%d%s", &n, &unit); err != nil {
		return 0, err
	}
	switch strings.ToUpper(unit) {
	case "KIB", "K", "KB":
		n <<= 10
	case "MIB", "M", "MB":
		n <<= 20
	case "GIB", "G", "GB":
		n <<= 30
	}
	return n, nil
}

func wall(m *Measure) string {
	switch {
	case m == nil:
		return "—"
	case m.TimedOut:
		return "> " + seconds(m.Wall)
	case m.Err != "":
		return "failed"
	}
	return seconds(m.Wall)
}

func seconds(s float64) string {
	switch {
	case s < 0.01:
		return fmt.Sprintf("%.1f ms", s*1000)
	case s < 1:
		return fmt.Sprintf("%.0f ms", s*1000)
	case s < 10:
		return fmt.Sprintf("%.2f s", s)
	}
	return fmt.Sprintf("%.1f s", s)
}

// wallThroughput adds MB/s for the copy.
func (rep *Report) wallThroughput(m *Measure, c *Cell) string {
	w := wall(m)
	if c.Op == opCp && m.ok() && m.Wall > 0 {
		w += fmt.Sprintf(" (%.0f MiB/s)", float64(rep.bigSize())/(1<<20)/m.Wall)
	}
	return w
}

func cmds(m *Measure) string {
	if m == nil || (m.Err != "" && !m.TimedOut) {
		return "—"
	}
	return fmt.Sprint(m.Commands)
}

func ratio(m, base *Measure) string {
	if !m.done() || !base.ok() || base.Wall <= 0 {
		return "—"
	}
	if m.TimedOut {
		return fmt.Sprintf("> %.0f×", m.Wall/base.Wall)
	}
	return fmt.Sprintf("%.1f×", m.Wall/base.Wall)
}

func bytesText(m *Measure) string {
	if m == nil || (m.Err != "" && !m.TimedOut) {
		return "—"
	}
	return size(m.FromServer)
}

func rss(m *Measure) string {
	if m == nil || m.PeakRSSKiB == 0 {
		return "—"
	}
	return size(m.PeakRSSKiB * 1024)
}

func size(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
}

func mbsyncText(m *MbsyncResult) string {
	switch {
	case m == nil:
		return ""
	case m.Err != "":
		return "failed"
	}
	return fmt.Sprintf("%s (sync %s + grep %s; %d matches)", seconds(m.Total), seconds(m.SyncSeconds), seconds(m.GrepSeconds), m.Matches)
}

func answer(c *Cell) string {
	var parts []string
	for _, m := range []struct {
		name string
		m    *Measure
	}{{"1st", c.First}, {"2nd", c.Second}, {"(a)", c.Bound}} {
		switch {
		case m.m == nil:
		case m.m.Err != "":
			parts = append(parts, m.name+": "+strings.ReplaceAll(firstLine(m.m.Err), "|", "/"))
		case m.name == "1st":
			parts = append(parts, m.m.Result)
		}
	}
	if c.Mbsync != nil && c.Mbsync.Err != "" {
		parts = append(parts, "(b): "+strings.ReplaceAll(firstLine(c.Mbsync.Err), "|", "/"))
	}
	return strings.Join(parts, "; ")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if len(line) > 160 {
		line = line[:160] + "…"
	}
	return line
}
