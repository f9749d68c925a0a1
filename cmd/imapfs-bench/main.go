// Command imapfs-bench measures an imapfs mount against a Dovecot seeded
// with generated mail, behind a latency proxy, beside two baselines: one
// pipelined UID FETCH of exactly the bytes an operation needs (the bound),
// and mbsync followed by grep (what users do today). It writes
// results/RESULTS.md, results.json and chart.png, and the README's
// performance section. Run it with `make bench`; it is Linux-only (FUSE,
// /proc) and takes about six minutes on two cores (it gives up on cells past -budget).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

type config struct {
	imapfs    string
	out       string
	readme    string
	cacheSize string
	quick     bool
	opTimeout time.Duration
	budget    time.Duration
	bigSize   int64
	keep      bool

	user, pass string
}

// runner holds the state of one benchmark run.
type runner struct {
	cfg         *config
	srv         *imaptest.Server
	tmp         string
	start       time.Time
	stats       map[string]*FolderStats
	big         *BigStats
	headerBytes map[string]int64 // per folder, from baseline (a) of cat HEADER
	cells       []*Cell
	failures    []string
}

func main() {
	cfg := &config{}
	flag.StringVar(&cfg.imapfs, "imapfs", "bin/imapfs", "the imapfs `binary` to measure (make build)")
	flag.StringVar(&cfg.out, "out", "cmd/imapfs-bench/results", "write RESULTS.md, results.json and chart.png to `DIR`")
	flag.StringVar(&cfg.readme, "readme", "README.md", "rewrite the performance section of `FILE` (empty: do not)")
	flag.StringVar(&cfg.cacheSize, "cache-size", "256MiB", "imapfs --cache-size")
	flag.BoolVar(&cfg.quick, "quick", false, "1,000-message folder at 0 and 50 ms only, for development")
	flag.DurationVar(&cfg.opTimeout, "op-timeout", 100*time.Second, "give up on one operation after `DURATION`")
	flag.DurationVar(&cfg.budget, "budget", 12*time.Minute, "start no cell after `DURATION` (the one running may add up to two -op-timeout)")
	bigMiB := flag.Int64("big-mib", 100, "size of the large attachment in MiB")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the temporary directory (logs)")
	serveRTT := flag.Duration("serve", -1, "seed the folders, then serve them through a latency proxy of this round trip `RTT` until interrupted, for profiling by hand (measures nothing)")
	flag.Parse()
	cfg.bigSize = *bigMiB << 20

	if runtime.GOOS != "linux" {
		fmt.Fprintln(os.Stderr, "imapfs-bench: Linux only (FUSE mounts, /proc)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var code int
	if *serveRTT >= 0 {
		code = serve(ctx, cfg, *serveRTT)
	} else {
		code = run(ctx, cfg)
	}
	stop()
	os.Exit(code)
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// fail records a wrong or failed measurement; the run goes on (a later
// cell may work) but exits non-zero.
func (r *runner) fail(cell *Cell, format string, args ...any) {
	msg := fmt.Sprintf("%s %s @%d ms: %s", cell.Op, cell.Folder, cell.RTT, fmt.Sprintf(format, args...))
	fmt.Fprintf(os.Stderr, "\n!!! FAILED: %s\n\n", msg)
	r.failures = append(r.failures, msg)
}

func run(ctx context.Context, cfg *config) int {
	bin, err := exec.LookPath(cfg.imapfs)
	if err == nil {
		bin, err = filepath.Abs(bin)
	}
	if err != nil {
		progress("imapfs binary %q: %v (run make build)", cfg.imapfs, err)
		return 2
	}
	cfg.imapfs = bin
	for _, tool := range []string{"fusermount3", "mbsync"} {
		if _, err := exec.LookPath(tool); err != nil {
			progress("%s not found (apt-get install fuse3 isync)", tool)
			return 2
		}
	}
	r := &runner{cfg: cfg, start: time.Now(), stats: map[string]*FolderStats{}, headerBytes: map[string]int64{}}
	r.tmp, err = os.MkdirTemp("", "imapfs-bench-")
	if err != nil {
		progress("%v", err)
		return 2
	}
	if cfg.keep {
		defer progress("kept %s", r.tmp)
	} else {
		defer os.RemoveAll(r.tmp)
	}
	machine := describeMachine(cfg.imapfs)

	progress("starting Dovecot")
	r.srv, err = imaptest.StartDovecot(imaptest.DovecotOptions{})
	if err != nil {
		progress("%v", err)
		return 2
	}
	defer r.srv.Close()
	cfg.user, cfg.pass = r.srv.Username, r.srv.Password
	if err := r.seed(ctx); err != nil {
		progress("seeding: %v", err)
		return 2
	}

	proxies := map[int]*imaptest.LatencyProxy{}
	for _, rtt := range latencies(cfg.quick) {
		proxy, err := imaptest.NewLatencyProxy(r.srv.Addr, time.Duration(rtt)*time.Millisecond)
		if err != nil {
			progress("%v", err)
			return 2
		}
		defer proxy.Close()
		proxies[rtt] = proxy
	}
	for _, p := range plan(cfg.quick) {
		if ctx.Err() != nil {
			break
		}
		r.runCell(ctx, proxies[p.rtt], p)
	}
	if ctx.Err() != nil {
		progress("interrupted; nothing written")
		return 130
	}
	rep := &Report{Machine: machine, Folders: r.folderList(), Big: r.big, Cells: r.cells, Failures: r.failures,
		Elapsed: time.Since(r.start).Seconds(), Quick: cfg.quick, CacheSize: cfg.cacheSize, OpTimeout: cfg.opTimeout.String()}
	if err := rep.write(cfg.out, cfg.readme); err != nil {
		progress("writing the report: %v", err)
		return 1
	}
	progress("done in %s; results in %s", time.Since(r.start).Round(time.Second), cfg.out)
	if len(r.failures) > 0 {
		progress("%d FAILURES:\n  %s", len(r.failures), strings.Join(r.failures, "\n  "))
		return 1
	}
	return 0
}

// runCell measures one operation on one folder at one latency: baseline
// (a), imapfs cold and warm, and baseline (b) where it applies.
func (r *runner) runCell(ctx context.Context, proxy *imaptest.LatencyProxy, p planned) {
	cell := &Cell{Op: p.op, Folder: p.folder, RTT: p.rtt}
	r.cells = append(r.cells, cell)
	if p.skip != "" {
		cell.Skip = p.skip
		return
	}
	if prev := r.timedOutBefore(p); prev != nil {
		cell.Skip = fmt.Sprintf("would time out: %s %s already took over %v at %d ms", prev.Op, prev.Folder, r.cfg.opTimeout, prev.RTT)
		progress("skip %s %s @%d ms: %s", p.op, p.folder, p.rtt, cell.Skip)
		return
	}
	if spent := time.Since(r.start); spent > r.cfg.budget {
		cell.Skip = fmt.Sprintf("time budget (%v) spent", r.cfg.budget)
		progress("skip %s %s @%d ms: %s", p.op, p.folder, p.rtt, cell.Skip)
		return
	}
	progress("%s %s @%d ms: baseline (a)", p.op, p.folder, p.rtt)
	cell.Bound = r.measureBound(proxy, cell)
	progress("%s %s @%d ms: imapfs", p.op, p.folder, p.rtt)
	r.measureMount(ctx, proxy, cell)
	if p.mbsync && ctx.Err() == nil {
		progress("%s %s @%d ms: baseline (b) mbsync", p.op, p.folder, p.rtt)
		cell.Mbsync = r.measureMbsync(ctx, proxy, cell)
	}
	progress("%s %s @%d ms: %s", p.op, p.folder, p.rtt, cell.summary())
}

// timedOutBefore returns a measured cell that timed out on the same
// operation with no more messages and no longer round trip: this one
// would time out too, and measuring it would only spend the budget.
func (r *runner) timedOutBefore(p planned) *Cell {
	for _, c := range r.cells {
		if c.Op == p.op && c.First != nil && c.First.TimedOut && c.RTT <= p.rtt && r.stats[c.Folder].Messages <= r.stats[p.folder].Messages {
			return c
		}
	}
	return nil
}

// seed writes the folders the plan needs and lets Dovecot index them.
func (r *runner) seed(ctx context.Context) error {
	root := r.srv.MailDir()
	if root == "" {
		return fmt.Errorf("server has no maildir")
	}
	for _, spec := range folderSpecs(r.cfg.quick) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		progress("seeding %s (%d messages)", spec.Name, spec.N)
		st, err := SeedFolder(ctx, root, spec)
		if err != nil {
			return err
		}
		warm, err := Warm(r.srv.Addr, r.cfg.user, r.cfg.pass, spec.Name)
		if err != nil {
			return err
		}
		st.WarmTime = warm.Seconds()
		progress("seeded %s: %d messages, %.1f MiB, word in %d (raw %d); written in %.1fs, Dovecot's first SELECT+FETCH %.1fs",
			spec.Name, st.Messages, float64(st.Bytes)/(1<<20), st.WordCount, st.RawWord, st.SeedTime, st.WarmTime)
		r.stats[spec.Name] = st
	}
	progress("seeding %s (one %d MiB attachment)", bigFolder, r.cfg.bigSize>>20)
	start := time.Now()
	big, err := SeedBig(root, bigFolder, r.cfg.bigSize)
	if err != nil {
		return err
	}
	if _, err := Warm(r.srv.Addr, r.cfg.user, r.cfg.pass, bigFolder); err != nil {
		return err
	}
	if err := WarmBinarySize(r.srv.Addr, r.cfg.user, r.cfg.pass, bigFolder, bigPart); err != nil {
		return err
	}
	r.big = big
	r.stats[bigFolder] = &FolderStats{Name: bigFolder, Messages: 1, SeedTime: time.Since(start).Seconds()}
	progress("seeded %s in %.1fs", bigFolder, time.Since(start).Seconds())
	return nil
}

func (r *runner) folderList() []*FolderStats {
	var out []*FolderStats
	for _, spec := range folderSpecs(r.cfg.quick) {
		out = append(out, r.stats[spec.Name])
	}
	return out
}

// describeMachine records what the figures were measured on.
func describeMachine(imapfs string) map[string]string {
	m := map[string]string{
		"date":  time.Now().UTC().Format(time.RFC3339),
		"nproc": fmt.Sprint(runtime.NumCPU()),
		"go":    runtime.Version(),
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		first, _, _ := strings.Cut(string(data), "\n")
		var kib int64
		if _, err := fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(first, "MemTotal:")), "%d", &kib); err == nil {
			m["memory"] = size(kib << 10)
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m["kernel"] = strings.TrimSpace(string(data))
	}
	for key, argv := range map[string][]string{
		"imapfs":  {imapfs, "version"},
		"dovecot": {"dovecot", "--version"},
		"mbsync":  {"mbsync", "--version"},
	} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err == nil {
			m[key] = strings.TrimSpace(string(out))
		} else {
			m[key] = "unknown (" + err.Error() + ")"
		}
	}
	return m
}
