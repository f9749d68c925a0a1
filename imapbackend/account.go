package imapbackend

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Security is how the connection to the server is protected.
type Security int

const (
	ImplicitTLS Security = iota // imaps://, port 993
	StartTLS                    // imap://, port 143, STARTTLS required
	Insecure                    // imap+insecure://, no TLS at all
)

func (s Security) String() string {
	switch s {
	case ImplicitTLS:
		return "imaps"
	case StartTLS:
		return "imap"
	default:
		return "imap+insecure"
	}
}

// Account is what an account URL names: where the server is, how to
// protect the connection and whom to log in as. It never holds a password.
type Account struct {
	Security Security
	Username string
	Host     string
	Port     int
}

// Addr is the host:port to dial.
func (a Account) Addr() string { return net.JoinHostPort(a.Host, strconv.Itoa(a.Port)) }

// String gives the URL back, without any password, for messages and the
// fsname shown by mount(8).
func (a Account) String() string {
	u := url.URL{Scheme: a.Security.String(), User: url.User(a.Username), Host: a.Addr()}
	return u.String()
}

// ParseURL parses imaps://USER@HOST[:PORT], imap://USER@HOST[:PORT] and
// imap+insecure://USER@HOST[:PORT]. USER may be percent-encoded
// (me%40example.org). A password in the URL is refused rather than
// ignored: it would show up in ps and in shell history.
func ParseURL(raw string) (Account, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Account{}, fmt.Errorf("invalid URL: %w", redactURLError(err))
	}
	var a Account
	switch strings.ToLower(u.Scheme) {
	case "imaps":
		a.Security, a.Port = ImplicitTLS, 993
	case "imap":
		a.Security, a.Port = StartTLS, 143
	case "imap+insecure":
		a.Security, a.Port = Insecure, 143
	case "":
		return Account{}, fmt.Errorf("invalid URL %s: no scheme (want imaps://USER@HOST, imap://USER@HOST or imap+insecure://USER@HOST)", u.Redacted())
	default:
		return Account{}, fmt.Errorf("invalid URL: unknown scheme %q (want imaps, imap or imap+insecure)", u.Scheme)
	}
	if u.User == nil || u.User.Username() == "" {
		return Account{}, fmt.Errorf("invalid URL %s: no user name (want %s://USER@HOST)", u.Redacted(), a.Security)
	}
	if _, has := u.User.Password(); has {
		return Account{}, fmt.Errorf("invalid URL %s: a password does not belong in the URL; use IMAPFS_PASSWORD, --password-file or --password-command", u.Redacted())
	}
	a.Username = u.User.Username()
	a.Host = u.Hostname()
	if a.Host == "" {
		return Account{}, fmt.Errorf("invalid URL %s: no host", u.Redacted())
	}
	if p := u.Port(); p != "" {
		port, err := strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return Account{}, fmt.Errorf("invalid URL %s: bad port %q", u.Redacted(), p)
		}
		a.Port = port
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return Account{}, fmt.Errorf("invalid URL %s: unexpected path or query (want %s://USER@HOST[:PORT])", u.Redacted(), a.Security)
	}
	return a, nil
}

// redactURLError keeps the reason of a url.Error but not the URL itself,
// which might carry a password the user pasted by mistake.
func redactURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
