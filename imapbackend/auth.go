package imapbackend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

// SASL mechanisms for OAuth 2 access tokens: OAUTHBEARER is the standard
// one (RFC 7628); XOAUTH2 is Google's and Microsoft's older variant, still
// the only one some servers offer.
const (
	MechOAuthBearer = sasl.OAuthBearer // "OAUTHBEARER"
	MechXOAuth2     = "XOAUTH2"
)

// TokenSource hands out OAuth 2 access tokens (--oauth-token-command). It
// keeps the last token, so that every new connection does not run the
// command again, and fetches a new one only when the server rejected the
// one it gave out. It is safe for concurrent use.
type TokenSource struct {
	fetch func(ctx context.Context) (string, error)

	mu    sync.Mutex
	token string
}

// NewTokenSource returns a TokenSource that calls fetch for a token. The
// first call happens on the first login unless SetToken gave one already.
func NewTokenSource(fetch func(ctx context.Context) (string, error)) *TokenSource {
	return &TokenSource{fetch: fetch}
}

// SetToken makes tok the current token, to be used until a server rejects
// it (a daemon receives the token its parent fetched).
func (s *TokenSource) SetToken(tok string) {
	s.mu.Lock()
	s.token = tok
	s.mu.Unlock()
}

// Token returns the current token, fetching one if there is none.
func (s *TokenSource) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" {
		return s.token, nil
	}
	return s.fetchLocked(ctx)
}

// Refresh returns a token other than rejected: a new one from fetch, or
// the one another connection already fetched after the same rejection.
func (s *TokenSource) Refresh(ctx context.Context, rejected string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && s.token != rejected {
		return s.token, nil
	}
	return s.fetchLocked(ctx)
}

func (s *TokenSource) fetchLocked(ctx context.Context) (string, error) {
	tok, err := s.fetch(ctx)
	if err != nil {
		return "", err
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", errors.New("the OAuth token command printed nothing")
	}
	s.token = tok
	return tok, nil
}

// errTokenRejected is returned (wrapped in a *tokenRejectedError) when the
// server refused an OAuth token.
var errTokenRejected = errors.New("the server rejected the OAuth token")

// tokenRejectedError carries the token the server refused, so that the
// retry can ask for another one. Error never shows the token.
type tokenRejectedError struct {
	token  string
	mech   string
	reason string // what the server said, without the token
}

func (e *tokenRejectedError) Error() string {
	msg := fmt.Sprintf("%v: %v (%s)", ErrAuth, errTokenRejected, e.mech)
	if e.reason != "" {
		msg += ": " + e.reason
	}
	return msg
}

func (e *tokenRejectedError) Unwrap() []error { return []error{errTokenRejected, ErrAuth} }

// oauthMechanism picks the SASL mechanism for a token among those the
// server advertises, preferring the standard OAUTHBEARER.
func oauthMechanism(caps imap.CapSet) (string, error) {
	for _, mech := range []string{MechOAuthBearer, MechXOAuth2} {
		if caps.Has(imap.Cap("AUTH=" + mech)) {
			return mech, nil
		}
	}
	var offered []string
	for c := range caps {
		if s := string(c); strings.HasPrefix(strings.ToUpper(s), "AUTH=") {
			offered = append(offered, s[len("AUTH="):])
		}
	}
	sort.Strings(offered)
	have := "no SASL mechanism at all"
	if len(offered) > 0 {
		have = "only " + strings.Join(offered, ", ")
	}
	return "", fmt.Errorf("the server offers neither OAUTHBEARER nor XOAUTH2 (it advertises %s), so an OAuth token cannot be used; log in with a password instead", have)
}

// authenticateOAuth logs in with token using mech.
func authenticateOAuth(client *imapclient.Client, acct Account, mech, token string) error {
	var sc oauthClient
	switch mech {
	case MechXOAuth2:
		sc = &xoauth2Client{username: acct.Username, token: token}
	default:
		sc = &oauthBearerClient{Client: sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{
			Username: acct.Username,
			Token:    token,
			Host:     acct.Host,
			Port:     acct.Port,
		})}
	}
	err := client.Authenticate(sc)
	if err == nil {
		return nil
	}
	var imapErr *imap.Error
	if !errors.As(err, &imapErr) && sc.serverError() == "" {
		return err // the connection broke, not a refusal
	}
	reason := sc.serverError()
	if imapErr != nil && imapErr.Text != "" {
		if reason != "" {
			reason = imapErr.Text + "; " + reason
		} else {
			reason = imapErr.Text
		}
	}
	return &tokenRejectedError{token: token, mech: mech, reason: strings.ReplaceAll(reason, token, "[token]")}
}

// oauthClient is a SASL client that remembers the error a server sent as
// a challenge before refusing.
type oauthClient interface {
	sasl.Client
	serverError() string
}

// xoauth2Client is the XOAUTH2 mechanism
// (https://developers.google.com/gmail/imap/xoauth2-protocol), which
// go-sasl lacks: one initial response; on failure the server sends a JSON
// error as a challenge, answered with an empty response, then says NO.
type xoauth2Client struct {
	username, token string
	failure         string
}

func (c *xoauth2Client) Start() (string, []byte, error) {
	return MechXOAuth2, []byte("user=" + c.username + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
}

func (c *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	c.failure = describeOAuthError(challenge)
	return []byte{}, nil
}

func (c *xoauth2Client) serverError() string { return c.failure }

// oauthBearerClient wraps go-sasl's OAUTHBEARER client, whose Next returns
// the server's error without answering it: that leaves the command
// hanging. RFC 7628 wants the client to answer the error challenge with
// a single 0x01, after which the server completes the command with NO.
type oauthBearerClient struct {
	sasl.Client
	failure string
}

func (c *oauthBearerClient) Next(challenge []byte) ([]byte, error) {
	c.failure = describeOAuthError(challenge)
	return []byte{0x01}, nil
}

func (c *oauthBearerClient) serverError() string { return c.failure }

// describeOAuthError renders the JSON error a server sends before refusing
// a token ({"status":"401","schemes":"bearer","scope":"..."}).
func describeOAuthError(challenge []byte) string {
	var e struct {
		Status string `json:"status"`
		Scope  string `json:"scope"`
	}
	if json.Unmarshal(challenge, &e) != nil || e.Status == "" {
		if len(challenge) == 0 {
			return "no reason given"
		}
		return "server said " + strings.TrimSpace(string(challenge))
	}
	s := "status " + e.Status
	if e.Scope != "" {
		s += ", scope " + e.Scope
	}
	return s
}

// loginOAuth authenticates client with a token from cfg.OAuth, picking
// the mechanism the server offers.
func loginOAuth(ctx context.Context, client *imapclient.Client, cfg Config, refreshFrom string) error {
	mech, err := oauthMechanism(client.Caps())
	if err != nil {
		return err
	}
	var token string
	if refreshFrom != "" {
		token, err = cfg.OAuth.Refresh(ctx, refreshFrom)
	} else {
		token, err = cfg.OAuth.Token(ctx)
	}
	if err != nil {
		return fmt.Errorf("get an OAuth token: %w", err)
	}
	return authenticateOAuth(client, cfg.Account, mech, token)
}
