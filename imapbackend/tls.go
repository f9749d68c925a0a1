package imapbackend

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// TLSConfig returns the TLS settings for --ca-file and --tls-server-name:
// the system's roots unless caFile names a PEM file of the certificate
// authorities to trust instead (a private CA), and the name the server's
// certificate must carry when it is not the URL's host. It returns nil when
// both are empty: the defaults apply.
func TLSConfig(caFile, serverName string) (*tls.Config, error) {
	if caFile == "" && serverName == "" {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: serverName}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// describeTLSError explains a failed handshake with host (the name the
// certificate was checked against) in terms a user can act on, keeping the
// original error in the chain.
func describeTLSError(host string, err error) error {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
		verify   *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &unknown):
		issuer := ""
		if unknown.Cert != nil {
			issuer = fmt.Sprintf(" (issuer %q)", certName(unknown.Cert.Issuer.CommonName, unknown.Cert.Issuer.String()))
		}
		return fmt.Errorf("the certificate of %s is not trusted: %w%s; if the server uses a private CA, trust it with --ca-file", host, err, issuer)
	case errors.As(err, &hostname):
		valid := "no name"
		if hostname.Certificate != nil {
			var names []string
			names = append(names, hostname.Certificate.DNSNames...)
			for _, ip := range hostname.Certificate.IPAddresses {
				names = append(names, ip.String())
			}
			if len(names) > 0 {
				valid = strings.Join(names, ", ")
			}
		}
		return fmt.Errorf("the certificate of %s is for another name (valid for %s): %w; check the host in the URL, or give the name with --tls-server-name", host, valid, err)
	case errors.As(err, &invalid):
		why := err.Error()
		if invalid.Reason == x509.Expired && invalid.Cert != nil {
			now := time.Now()
			if now.After(invalid.Cert.NotAfter) {
				why = "it expired on " + invalid.Cert.NotAfter.UTC().Format(time.DateOnly)
			} else {
				why = "it is not valid before " + invalid.Cert.NotBefore.UTC().Format(time.DateOnly)
			}
			return fmt.Errorf("the certificate of %s is not valid: %s: %w", host, why, err)
		}
		return fmt.Errorf("the certificate of %s is not valid: %w", host, err)
	case errors.As(err, &verify):
		return fmt.Errorf("the certificate of %s did not verify: %w", host, err)
	case errors.As(err, &record):
		return fmt.Errorf("%s did not answer with TLS (a plain IMAP port? imap:// uses STARTTLS on port 143): %w", host, err)
	}
	return err
}

func certName(cn, full string) string {
	if cn != "" {
		return cn
	}
	return full
}
