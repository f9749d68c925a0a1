package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// serve seeds Dovecot as a run would and then keeps it and a latency proxy
// up until interrupted, printing what to mount: for profiling a mount by
// hand (imapfs --debug, perf, pprof) against the bench's own folders.
func serve(ctx context.Context, cfg *config, rtt time.Duration) int {
	r := &runner{cfg: cfg, start: time.Now(), stats: map[string]*FolderStats{}, headerBytes: map[string]int64{}}
	srv, err := imaptest.StartDovecot(imaptest.DovecotOptions{})
	if err != nil {
		progress("%v", err)
		return 2
	}
	defer srv.Close()
	r.srv = srv
	cfg.user, cfg.pass = srv.Username, srv.Password
	if err := r.seed(ctx); err != nil {
		progress("seeding: %v", err)
		return 2
	}
	proxy, err := imaptest.NewLatencyProxy(srv.Addr, rtt)
	if err != nil {
		progress("%v", err)
		return 2
	}
	defer proxy.Close()
	fmt.Fprintf(os.Stdout, "IMAPFS_PASSWORD=%s imapfs mount --read-only imap+insecure://%s@%s MOUNTPOINT\n",
		cfg.pass, cfg.user, proxy.Addr)
	fmt.Fprintf(os.Stdout, "direct (no latency): imap+insecure://%s@%s\n", cfg.user, srv.Addr)
	<-ctx.Done()
	fmt.Fprintf(os.Stdout, "commands through the proxy: %v\n", proxy.Commands())
	return 0
}
