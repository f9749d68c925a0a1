package imapbackend_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imapfs/imapfs/imapbackend"
	"github.com/imapfs/imapfs/imapbackend/imaptest"
)

// tokens returns a token source that hands out prefix1, prefix2, ... and
// a counter of how many it handed out.
func tokens(prefix string) (*imapbackend.TokenSource, *atomic.Int32) {
	var n atomic.Int32
	return imapbackend.NewTokenSource(func(context.Context) (string, error) {
		return fmt.Sprintf("%s%d", prefix, n.Add(1)), nil
	}), &n
}

func open(t *testing.T, cfg imapbackend.Config) (*imapbackend.Backend, error) {
	t.Helper()
	cfg.Timeout = 10 * time.Second
	b, err := imapbackend.Open(context.Background(), cfg)
	if err == nil {
		t.Cleanup(b.Close)
	}
	return b, err
}

func account(t *testing.T, raw string) imapbackend.Account {
	t.Helper()
	a, err := imapbackend.ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestOAuthMechanisms(t *testing.T) {
	for _, tt := range []struct {
		offered []string
		want    string
	}{
		{[]string{"XOAUTH2"}, "XOAUTH2"},
		{[]string{"OAUTHBEARER"}, "OAUTHBEARER"},
		{[]string{"XOAUTH2", "OAUTHBEARER"}, "OAUTHBEARER"},
	} {
		t.Run(strings.Join(tt.offered, "+"), func(t *testing.T) {
			srv := imaptest.NewMemoryExtra(t, imaptest.ExtraOptions{OAuthMechanisms: tt.offered, Tokens: []string{"tok1"}})
			ts, n := tokens("tok")
			if _, err := open(t, imapbackend.Config{Account: account(t, "imap+insecure://user@"+srv.Addr), OAuth: ts}); err != nil {
				t.Fatal(err)
			}
			got := srv.AuthAttempts()
			if len(got) != 1 || got[0].Mechanism != tt.want || !got[0].OK || got[0].Username != "user" {
				t.Errorf("authentications %+v, want one accepted %s as user", got, tt.want)
			}
			if n.Load() != 1 {
				t.Errorf("token fetched %d times, want 1", n.Load())
			}
		})
	}
}

// TestOAuthRefresh checks that a rejected token is replaced once, that
// connections opened at the same time share the replacement, and that a
// token rejected twice fails without a loop.
func TestOAuthRefresh(t *testing.T) {
	srv := imaptest.NewMemoryExtra(t, imaptest.ExtraOptions{OAuthMechanisms: []string{"XOAUTH2"}, Tokens: []string{"tok2"}})
	ts, n := tokens("tok")
	b, err := open(t, imapbackend.Config{Account: account(t, "imap+insecure://user@"+srv.Addr), OAuth: ts})
	if err != nil {
		t.Fatal(err)
	}
	if n.Load() != 2 {
		t.Errorf("token fetched %d times, want 2", n.Load())
	}
	// Requests at once open more connections, all with the accepted token.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.Mailboxes(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n.Load() != 2 {
		t.Errorf("token fetched %d times after more connections, want still 2", n.Load())
	}

	// A token the server never accepts is tried twice, then given up.
	srv.SetTokens("nothing-valid")
	ts2 := imapbackend.NewTokenSource(func(context.Context) (string, error) { return "tok-Secret-9", nil })
	_, err = open(t, imapbackend.Config{Account: account(t, "imap+insecure://user@"+srv.Addr), OAuth: ts2})
	if !errors.Is(err, imapbackend.ErrAuth) {
		t.Fatalf("always-rejected token: %v, want ErrAuth", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "rejected") || strings.Contains(msg, "tok-Secret-9") {
		t.Errorf("error %q: want a rejection without the token", msg)
	}
	rejected := 0
	for _, a := range srv.AuthAttempts() {
		if a.Token == "tok-Secret-9" {
			rejected++
		}
	}
	if rejected != 2 {
		t.Errorf("the rejected token was tried %d times, want 2 (once, once more after refreshing)", rejected)
	}
}

func TestOAuthNotOffered(t *testing.T) {
	srv := imaptest.NewMemoryExtra(t, imaptest.ExtraOptions{})
	ts, _ := tokens("tok")
	_, err := open(t, imapbackend.Config{Account: account(t, "imap+insecure://user@"+srv.Addr), OAuth: ts})
	if err == nil || !strings.Contains(err.Error(), "neither OAUTHBEARER nor XOAUTH2") || !strings.Contains(err.Error(), "PLAIN") {
		t.Errorf("error %v, want one saying the server offers neither (only PLAIN)", err)
	}
}

func TestOAuthFetchFails(t *testing.T) {
	srv := imaptest.NewMemoryExtra(t, imaptest.ExtraOptions{OAuthMechanisms: []string{"OAUTHBEARER"}})
	ts := imapbackend.NewTokenSource(func(context.Context) (string, error) { return "", errors.New("no grant") })
	_, err := open(t, imapbackend.Config{Account: account(t, "imap+insecure://user@"+srv.Addr), OAuth: ts})
	if err == nil || !strings.Contains(err.Error(), "no grant") {
		t.Errorf("error %v, want the token source's", err)
	}
	empty := imapbackend.NewTokenSource(func(context.Context) (string, error) { return " \n", nil })
	_, err = open(t, imapbackend.Config{Account: account(t, "imap+insecure://user@"+srv.Addr), OAuth: empty})
	if err == nil || !strings.Contains(err.Error(), "printed nothing") {
		t.Errorf("error %v, want one about an empty token", err)
	}
}

func TestTLSPrivateCA(t *testing.T) {
	srv := imaptest.NewMemoryExtra(t, imaptest.ExtraOptions{TLS: true})
	named := imaptest.NewMemoryExtra(t, imaptest.ExtraOptions{TLS: true, TLSNames: []string{"imap.test"}})
	withCA, err := imapbackend.TLSConfig(srv.CAFile, "")
	if err != nil {
		t.Fatal(err)
	}
	namedCA, err := imapbackend.TLSConfig(named.CAFile, "imap.test")
	if err != nil {
		t.Fatal(err)
	}
	namedCANoName, err := imapbackend.TLSConfig(named.CAFile, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		url  string
		tls  *imapbackend.Config
		want []string
	}{
		{"imaps, system roots", "imaps://user@" + srv.TLSAddr, nil, []string{"not trusted", "127.0.0.1", "unknown authority", "--ca-file"}},
		{"STARTTLS, system roots", "imap://user@" + srv.Addr, nil, []string{"STARTTLS", "not trusted", "--ca-file"}},
		{"imaps, CA", "imaps://user@" + srv.TLSAddr, &imapbackend.Config{TLSConfig: withCA}, nil},
		{"STARTTLS, CA", "imap://user@" + srv.Addr, &imapbackend.Config{TLSConfig: withCA}, nil},
		{"wrong name", "imaps://user@" + named.TLSAddr, &imapbackend.Config{TLSConfig: namedCANoName}, []string{"valid for imap.test", "--tls-server-name"}},
		{"server name", "imaps://user@" + named.TLSAddr, &imapbackend.Config{TLSConfig: namedCA}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := imapbackend.Config{Account: account(t, tt.url), Password: "pass"}
			if tt.tls != nil {
				cfg.TLSConfig = tt.tls.TLSConfig
			}
			_, err := open(t, cfg)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("connected; want a certificate error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if _, err := imapbackend.TLSConfig("/nonexistent", ""); err == nil {
		t.Error("TLSConfig with a missing CA file: no error")
	}
	if cfg, err := imapbackend.TLSConfig("", ""); cfg != nil || err != nil {
		t.Errorf("TLSConfig with nothing: %v, %v; want nil, nil", cfg, err)
	}
}
