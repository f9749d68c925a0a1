package imapbackend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/charset"
)

// ErrAuth is returned (wrapped) when the server rejects the credentials.
var ErrAuth = errors.New("authentication failed")

// dial connects, protects the connection as the account says, and logs in
// with the password or, when cfg.OAuth is set, with an OAuth token. A
// token the server rejects is replaced once (the token command runs
// again) and the login retried on a new connection. Errors name the step
// that failed, so that the one line the user sees tells a wrong password
// from a closed port from a bad certificate.
func dial(ctx context.Context, cfg Config) (*imapclient.Client, error) {
	client, err := dialOnce(ctx, cfg, "")
	var rejected *tokenRejectedError
	if cfg.OAuth != nil && errors.As(err, &rejected) && ctx.Err() == nil {
		if cfg.Logger != nil {
			cfg.Logger.Printf("%s: OAuth token rejected; getting a new one", cfg.Account.Addr())
		}
		client, err = dialOnce(ctx, cfg, rejected.token)
		if errors.As(err, &rejected) {
			err = fmt.Errorf("%w (a new token, from running the command again, was rejected too)", err)
		}
	}
	return client, err
}

// dialOnce is one connection attempt. refreshFrom, when set, is the token
// the server rejected last time.
func dialOnce(ctx context.Context, cfg Config, refreshFrom string) (*imapclient.Client, error) {
	acct := cfg.Account
	dialer := &net.Dialer{}
	netConn, err := dialer.DialContext(ctx, "tcp", acct.Addr())
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", acct.Addr(), unwrapOpError(err))
	}
	if cfg.counters != nil {
		cfg.counters.dialled.Add(1)
		cfg.counters.open.Add(1)
		netConn = &countingConn{Conn: netConn, c: cfg.counters}
	}
	// The guard stamps activity with the bytes of answers only.
	guarded := func(c net.Conn) net.Conn {
		oc := newOriginConn(c)
		oc.guard.activity = cfg.activity
		oc.refused = cfg.refused
		if cfg.MaxLiteral > 0 {
			oc.guard.maxLiteral = cfg.MaxLiteral
		}
		return oc
	}
	// The deadline covers greeting, TLS and login; it is cleared once the
	// connection is ready, after which go-imap applies its own timeouts.
	if deadline, ok := ctx.Deadline(); ok {
		netConn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { netConn.Close() })
	defer stop()

	tlsCfg := cfg.TLSConfig.Clone()
	if tlsCfg == nil {
		tlsCfg = &tls.Config{}
	}
	if tlsCfg.ServerName == "" {
		tlsCfg.ServerName = acct.Host
	}
	options := &imapclient.Options{
		TLSConfig:             tlsCfg,
		WordDecoder:           &mime.WordDecoder{CharsetReader: charset.Reader},
		UnilateralDataHandler: cfg.unilateral,
	}

	var client *imapclient.Client
	switch acct.Security {
	case ImplicitTLS:
		tlsConn := tls.Client(netConn, tlsCfg)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			netConn.Close()
			return nil, fmt.Errorf("TLS with %s: %w", acct.Addr(), describeTLSError(tlsCfg.ServerName, err))
		}
		client = imapclient.New(guarded(tlsConn), options)
	case StartTLS:
		tlsConn, err := startTLS(ctx, netConn, tlsCfg)
		if err == nil {
			client = imapclient.New(guarded(tlsConn), options)
		} else {
			netConn.Close()
			if described := describeTLSError(tlsCfg.ServerName, err); described != err {
				return nil, fmt.Errorf("STARTTLS with %s: %w", acct.Addr(), described)
			}
			return nil, fmt.Errorf("STARTTLS with %s (imap:// requires it; use imaps:// for port 993): %w", acct.Addr(), err)
		}
	default:
		client = imapclient.New(guarded(netConn), options)
	}
	if err := client.WaitGreeting(); err != nil {
		client.Close()
		return nil, fmt.Errorf("greeting from %s: %w", acct.Addr(), err)
	}
	if cfg.OAuth != nil {
		if err := loginOAuth(ctx, client, cfg, refreshFrom); err != nil {
			client.Close()
			return nil, fmt.Errorf("log in to %s as %q: %w", acct.Addr(), acct.Username, err)
		}
		netConn.SetDeadline(time.Time{})
		return client, nil
	}
	if client.Caps().Has(imap.CapLoginDisabled) {
		client.Close()
		return nil, fmt.Errorf("log in to %s: the server refuses LOGIN on this connection (LOGINDISABLED); try imaps:// or imap://", acct.Addr())
	}
	if err := client.Login(acct.Username, cfg.Password).Wait(); err != nil {
		client.Close()
		var imapErr *imap.Error
		if errors.As(err, &imapErr) {
			return nil, fmt.Errorf("log in to %s as %q: %w: %s", acct.Addr(), acct.Username, ErrAuth, imapErr.Text)
		}
		return nil, fmt.Errorf("log in to %s as %q: %w", acct.Addr(), acct.Username, err)
	}
	netConn.SetDeadline(time.Time{})
	return client, nil
}

// unwrapOpError drops the "dial tcp 1.2.3.4:993:" prefix that repeats the
// address the caller already names.
func unwrapOpError(err error) error {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return opErr.Err
	}
	return err
}
