package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// MbsyncResult is baseline (b): what users do today, syncing the folder
// to a local maildir with mbsync and grepping that.
type MbsyncResult struct {
	SyncSeconds float64        `json:"syncSeconds"`
	GrepSeconds float64        `json:"grepSeconds"`
	Total       float64        `json:"totalSeconds"`
	Commands    int            `json:"commands"`
	ByName      map[string]int `json:"byCommand,omitempty"`
	FromServer  int64          `json:"bytesFromServer"`
	Files       int            `json:"files"`   // messages synced
	Matches     int            `json:"matches"` // files grep found the word in (raw bytes: base64 hides some)
	Err         string         `json:"error,omitempty"`
}

// mbsyncConfig is a minimal mbsyncrc pulling one folder over plain IMAP.
const mbsyncConfig = `IMAPAccount bench
Host {{host}}
Port {{port}}
User {{user}}
Pass {{pass}}
SSLType None
AuthMechs LOGIN PLAIN

IMAPStore remote
Account bench

MaildirStore local
Path {{dir}}/
Inbox {{dir}}/INBOX
SubFolders Verbatim

Channel bench
Far :remote:
Near :local:
Patterns {{folder}}
Create Near
Sync Pull
Expunge None
SyncState *
`

func (r *runner) measureMbsync(ctx context.Context, proxy *imaptest.LatencyProxy, cell *Cell) *MbsyncResult {
	res := &MbsyncResult{}
	if err := r.mbsync(ctx, proxy, cell, res); err != nil {
		res.Err = err.Error()
		r.fail(cell, "baseline (b): %v", err)
	}
	return res
}

func (r *runner) mbsync(ctx context.Context, proxy *imaptest.LatencyProxy, cell *Cell, res *MbsyncResult) error {
	dir, err := os.MkdirTemp(r.tmp, "mbsync-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	host, port, _ := net.SplitHostPort(proxy.Addr)
	conf := strings.NewReplacer("{{host}}", host, "{{port}}", port, "{{user}}", r.cfg.user, "{{pass}}", r.cfg.pass,
		"{{dir}}", filepath.Join(dir, "mail"), "{{folder}}", cell.Folder).Replace(mbsyncConfig)
	rc := filepath.Join(dir, "mbsyncrc")
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "mail"), 0o700); err != nil {
		return err
	}

	proxy.Reset()
	start := time.Now()
	if _, err := runShell(ctx, dir, "mbsync -q -c mbsyncrc bench", r.cfg.opTimeout); err != nil {
		return fmt.Errorf("mbsync: %w", err)
	}
	res.SyncSeconds = time.Since(start).Seconds()
	res.FromServer = proxy.BytesFromServer()
	res.ByName = proxy.Commands()
	res.Commands = proxy.Total()

	maildir := filepath.Join(dir, "mail", cell.Folder)
	entries, err := os.ReadDir(filepath.Join(maildir, "cur"))
	if err != nil {
		return fmt.Errorf("mbsync left no maildir: %w", err)
	}
	news, _ := os.ReadDir(filepath.Join(maildir, "new"))
	res.Files = len(entries) + len(news)

	start = time.Now()
	out, err := runShell(ctx, maildir, fmt.Sprintf("grep -r -l %s . | wc -l", Word), r.cfg.opTimeout)
	if err != nil {
		return fmt.Errorf("grep: %w", err)
	}
	res.GrepSeconds = time.Since(start).Seconds()
	res.Total = res.SyncSeconds + res.GrepSeconds
	res.Matches, err = strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		return fmt.Errorf("grep: output %q", out)
	}
	st := r.stats[cell.Folder]
	if res.Files != st.Messages {
		return fmt.Errorf("mbsync synced %d messages of %d", res.Files, st.Messages)
	}
	if res.Matches != st.RawWord {
		return fmt.Errorf("grep found %s in %d synced files, their raw bytes hold it in %d", Word, res.Matches, st.RawWord)
	}
	return nil
}
