package imaptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
)

// ExtraOptions configure StartMemoryExtra: a memory server that can also
// speak TLS with a certificate from a private CA, and accept OAuth tokens.
type ExtraOptions struct {
	MemoryOptions
	// Username and Password default to "user" and "pass".
	Username, Password string

	// TLS makes the server also listen on TLSAddr with implicit TLS, and
	// offer STARTTLS on Addr, with a certificate signed by a CA made for
	// this server alone (CAFile). Addr keeps accepting LOGIN without TLS,
	// for Seed and Dial.
	TLS bool
	// TLSNames are the host names and IP addresses the certificate is
	// valid for (default 127.0.0.1 and localhost).
	TLSNames []string

	// OAuthMechanisms are the SASL mechanisms advertised (AUTH=...) and
	// accepted for tokens: "OAUTHBEARER", "XOAUTH2" or both. Empty means
	// AUTH=PLAIN only, like the plain memory server.
	OAuthMechanisms []string
	// Tokens are the OAuth tokens accepted for Username.
	Tokens []string
}

// ExtraServer is a memory server started by StartMemoryExtra.
type ExtraServer struct {
	*Server
	// TLSAddr is where the server speaks implicit TLS ("" without TLS).
	TLSAddr string
	// CAFile is a PEM file holding the CA that signed the server's
	// certificate ("" without TLS); it is removed by Close.
	CAFile string

	username string
	mu       sync.Mutex
	tokens   map[string]bool
	attempts []AuthAttempt
}

// AuthAttempt is one AUTHENTICATE the server answered.
type AuthAttempt struct {
	Mechanism string
	Username  string
	Token     string // the token offered ("" for PLAIN)
	OK        bool
}

// SetTokens replaces the tokens the server accepts.
func (s *ExtraServer) SetTokens(tokens ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = make(map[string]bool)
	for _, t := range tokens {
		s.tokens[t] = true
	}
}

// AuthAttempts returns the AUTHENTICATE commands answered so far.
func (s *ExtraServer) AuthAttempts() []AuthAttempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]AuthAttempt(nil), s.attempts...)
}

func (s *ExtraServer) checkToken(mech, username, token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ok := username == s.username && s.tokens[token]
	s.attempts = append(s.attempts, AuthAttempt{Mechanism: mech, Username: username, Token: token, OK: ok})
	return ok
}

// StartMemoryExtra starts a memory server as StartMemoryWith does, with the
// TLS and OAuth abilities opts ask for.
func StartMemoryExtra(opts ExtraOptions) (*ExtraServer, error) {
	if opts.Username == "" {
		opts.Username = "user"
	}
	if opts.Password == "" {
		opts.Password = "pass"
	}
	caps := imap.CapSet{}
	for c := range memoryCaps {
		caps[c] = struct{}{}
	}
	noUnselect := false
	for _, c := range opts.Without {
		delete(caps, c)
		noUnselect = noUnselect || c == imap.CapUnselect
	}
	for _, m := range opts.OAuthMechanisms {
		if m != sasl.OAuthBearer && m != "XOAUTH2" {
			return nil, fmt.Errorf("imaptest: unknown OAuth mechanism %q", m)
		}
	}

	mem := imapmemserver.New()
	user := imapmemserver.NewUser(opts.Username, opts.Password)
	if err := user.Create("INBOX", nil); err != nil {
		return nil, fmt.Errorf("imaptest: create INBOX: %w", err)
	}
	mem.AddUser(user)

	es := &ExtraServer{username: opts.Username}
	es.SetTokens(opts.Tokens...)

	var (
		tlsConfig *tls.Config
		dir       string
	)
	if opts.TLS {
		var err error
		dir, err = os.MkdirTemp("", "imapfs-tls-")
		if err != nil {
			return nil, fmt.Errorf("imaptest: %w", err)
		}
		names := opts.TLSNames
		if len(names) == 0 {
			names = []string{"127.0.0.1", "localhost"}
		}
		var caPEM []byte
		tlsConfig, caPEM, err = newCA(names)
		if err == nil {
			es.CAFile = filepath.Join(dir, "ca.pem")
			err = os.WriteFile(es.CAFile, caPEM, 0o644)
		}
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("imaptest: TLS certificate: %w", err)
		}
	}

	serverOpts := &imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &extraSession{server: es, user: user, mechs: opts.OAuthMechanisms, refuse: opts.Refuse, idleQuiet: opts.IdleNeverPushes}, nil, nil
		},
		Caps:      caps,
		TLSConfig: tlsConfig,
		// Loopback only, and clients must be able to LOGIN without TLS.
		InsecureAuth: true,
	}
	if tlsConfig != nil {
		// Refused handshakes are what TLS tests are about, not news.
		serverOpts.Logger = log.New(io.Discard, "", 0)
	}
	srv := imapserver.New(serverOpts)

	var listeners []net.Listener
	closeAll := func() {
		for _, ln := range listeners {
			ln.Close()
		}
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("imaptest: listen: %w", err)
	}
	listeners = append(listeners, ln)
	if tlsConfig != nil {
		tln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("imaptest: listen: %w", err)
		}
		listeners = append(listeners, tls.NewListener(tln, tlsConfig))
		es.TLSAddr = tln.Addr().String()
	}
	served := make(chan error, len(listeners))
	for _, l := range listeners {
		go func() { served <- srv.Serve(l) }()
	}
	addr := ln.Addr().String()
	var filter *quirkFilter
	if noUnselect || opts.SelectWithoutUIDNext {
		if filter, err = startQuirkFilter(addr, noUnselect, opts.SelectWithoutUIDNext); err != nil {
			srv.Close()
			closeAll()
			for range listeners {
				<-served
			}
			return nil, err
		}
		addr = filter.addr
	}

	es.Server = &Server{
		Addr:      addr,
		Username:  opts.Username,
		Password:  opts.Password,
		Delimiter: '/',
		Kind:      "memory",
		dir:       dir,
		stop: func() error {
			if filter != nil {
				filter.close()
			}
			err := srv.Close()
			for _, l := range listeners {
				if lnErr := l.Close(); err == nil && !errors.Is(lnErr, net.ErrClosed) {
					err = lnErr
				}
			}
			for range listeners {
				<-served
			}
			if dir != "" {
				os.RemoveAll(dir)
			}
			if err != nil {
				return fmt.Errorf("imaptest: close memory server: %w", err)
			}
			return nil
		},
	}
	return es, nil
}

// NewMemoryExtra is StartMemoryExtra for tests: it fails the test on error
// and closes the server when the test ends.
func NewMemoryExtra(tb testing.TB, opts ExtraOptions) *ExtraServer {
	tb.Helper()
	s, err := StartMemoryExtra(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// extraSession is imapmemserver's session for one user, with LOGIN and
// the SASL mechanisms of the server.
type extraSession struct {
	*imapmemserver.UserSession // nil until logged in

	server *ExtraServer
	user   *imapmemserver.User
	mechs  []string
	refuse func(command, mailbox string) error // MemoryOptions.Refuse
	// selected is the mailbox SELECT opened last, for Refuse of STORE.
	selected  string
	idleQuiet bool // MemoryOptions.IdleNeverPushes
}

// Idle reports nothing while it lasts when the server is to never push:
// what happened meanwhile is told after the next command.
func (s *extraSession) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	if s.idleQuiet {
		<-stop
		return nil
	}
	return s.UserSession.Idle(w, stop)
}

var _ imapserver.SessionSASL = (*extraSession)(nil)
var _ imapserver.SessionIMAP4rev2 = (*extraSession)(nil)

func (s *extraSession) Close() error {
	if s.UserSession != nil {
		return s.UserSession.Close()
	}
	return nil
}

func (s *extraSession) Login(username, password string) error {
	if username != s.server.username {
		return imapserver.ErrAuthFailed
	}
	if err := s.user.Login(username, password); err != nil {
		return err
	}
	s.UserSession = imapmemserver.NewUserSession(s.user)
	return nil
}

func (s *extraSession) AuthenticateMechanisms() []string {
	if len(s.mechs) == 0 {
		return []string{sasl.Plain}
	}
	return s.mechs
}

func (s *extraSession) Authenticate(mech string) (sasl.Server, error) {
	offered := false
	for _, m := range s.AuthenticateMechanisms() {
		offered = offered || strings.EqualFold(m, mech)
	}
	if !offered {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "SASL mechanism not supported"}
	}
	authFailed := &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "Invalid token"}
	switch strings.ToUpper(mech) {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return imapserver.ErrAuthFailed
			}
			return s.Login(username, password)
		}), nil
	case sasl.OAuthBearer:
		return &oauthBearerServer{inner: sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
			if !s.server.checkToken(sasl.OAuthBearer, o.Username, o.Token) {
				return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer"}
			}
			s.UserSession = imapmemserver.NewUserSession(s.user)
			return nil
		}), failed: authFailed}, nil
	default: // XOAUTH2
		return &xoauth2Server{check: func(username, token string) bool {
			if !s.server.checkToken("XOAUTH2", username, token) {
				return false
			}
			s.UserSession = imapmemserver.NewUserSession(s.user)
			return true
		}, failed: authFailed}, nil
	}
}

// oauthBearerServer turns go-sasl's final error, which imapserver would
// report as an internal error, into NO [AUTHENTICATIONFAILED] as real
// servers send.
type oauthBearerServer struct {
	inner  sasl.Server
	failed error
}

func (s *oauthBearerServer) Next(resp []byte) ([]byte, bool, error) {
	challenge, done, err := s.inner.Next(resp)
	if err != nil {
		return nil, true, s.failed
	}
	return challenge, done, nil
}

// xoauth2Server is the server side of XOAUTH2: the client's one message is
// "user=NAME\x01auth=Bearer TOKEN\x01\x01"; a refused token gets a JSON
// error challenge, and the client's (empty) answer to it gets NO.
type xoauth2Server struct {
	check  func(username, token string) bool
	failed error
	state  int // 0: waiting for the message, 1: sent the error
}

func (s *xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	switch s.state {
	case 0:
		if resp == nil {
			return []byte{}, false, nil // no SASL-IR: ask for the message
		}
		var username, token string
		for _, field := range strings.Split(string(resp), "\x01") {
			switch {
			case strings.HasPrefix(field, "user="):
				username = field[len("user="):]
			case strings.HasPrefix(strings.ToLower(field), "auth=bearer "):
				token = field[len("auth=bearer "):]
			}
		}
		if username != "" && token != "" && s.check(username, token) {
			return nil, true, nil
		}
		s.state = 1
		return []byte(`{"status":"401","schemes":"bearer","scope":"https://mail.example/"}`), false, nil
	default:
		return nil, true, s.failed
	}
}

// newCA makes a CA and a server certificate it signs for names, and
// returns the server's TLS configuration and the CA certificate in PEM.
func newCA(names []string) (*tls.Config, []byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "imaptest private CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der, caDER}, PrivateKey: key}}}
	return cfg, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), nil
}
