package main

import (
	"strings"
	"syscall"
	"testing"

	"github.com/imapfs/imapfs"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// tlsServer is a memory server with the sample mail, speaking implicit TLS
// on TLSAddr and STARTTLS on Addr, with a certificate for names signed by
// a private CA (CAFile).
func tlsServer(t *testing.T, names ...string) *imaptest.ExtraServer {
	t.Helper()
	srv := imaptest.NewMemoryExtra(t, imaptest.ExtraOptions{TLS: true, TLSNames: names})
	if err := srv.Seed(imapfs.SampleMail, "testdata/mail"); err != nil {
		t.Fatal(err)
	}
	return srv
}

// TestMountTLSPrivateCA checks that a server whose certificate comes from a
// private CA is refused by default, with a message naming the host and
// the reason, and accepted with --ca-file, over implicit TLS and STARTTLS;
// and that --tls-server-name names the certificate a host must present.
func TestMountTLSPrivateCA(t *testing.T) {
	imaptest.RequireFUSE(t)
	srv := tlsServer(t)
	named := tlsServer(t, "imap.test")
	for _, tt := range []struct {
		name  string
		url   string
		flags []string
		want  []string // error line; nil means the mount works
	}{
		{"imaps without the CA", "imaps://user@" + srv.TLSAddr, nil,
			[]string{"TLS with " + srv.TLSAddr, "certificate of 127.0.0.1", "unknown authority", "imaptest private CA", "--ca-file"}},
		{"STARTTLS without the CA", "imap://user@" + srv.Addr, nil,
			[]string{"STARTTLS", "certificate of 127.0.0.1", "unknown authority", "--ca-file"}},
		{"imaps with the CA", "imaps://user@" + srv.TLSAddr, []string{"--ca-file", srv.CAFile}, nil},
		{"STARTTLS with the CA", "imap://user@" + srv.Addr, []string{"--ca-file", srv.CAFile}, nil},
		{"wrong name", "imaps://user@" + named.TLSAddr, []string{"--ca-file", named.CAFile},
			[]string{"certificate of 127.0.0.1", "valid for imap.test", "--tls-server-name"}},
		{"tls-server-name", "imaps://user@" + named.TLSAddr, []string{"--ca-file", named.CAFile, "--tls-server-name", "imap.test"}, nil},
		{"missing CA file", "imaps://user@" + srv.TLSAddr, []string{"--ca-file", "/nonexistent/ca.pem"},
			[]string{"CA file", "/nonexistent/ca.pem"}},
		{"CA file without a certificate", "imaps://user@" + srv.TLSAddr, []string{"--ca-file", "/dev/null"},
			[]string{"holds no PEM certificate"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := mountDir(t)
			args := append([]string{"mount", tt.url, dir}, tt.flags...)
			if tt.want != nil {
				r := runImapfs(t, env("IMAPFS_PASSWORD=pass"), dir, args...)
				line := checkOneErrorLine(t, r)
				t.Log(line)
				if r.code != 1 {
					t.Errorf("exit status %d, want 1", r.code)
				}
				for _, w := range tt.want {
					if !strings.Contains(line, w) {
						t.Errorf("error line %q lacks %q", line, w)
					}
				}
				return
			}
			p := start(t, env("IMAPFS_PASSWORD=pass"), "", []string{dir}, args...)
			p.waitMounted(dir)
			if uids := messageDirs(t, dir+"/INBOX"); len(uids) != 7 {
				t.Errorf("ls INBOX over TLS: %d message directories, want 7", len(uids))
			}
			p.stopAndCheck(syscall.SIGTERM, dir)
		})
	}
}
