package mllp

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Fingerprint returns the SHA-256 fingerprint of a certificate's DER encoding, lower-case
// hex without separators.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// AllowList admits client certificates by SHA-256 fingerprint or subject common name.
type AllowList struct {
	fingerprints map[string]bool
	cns          map[string]bool
}

// ParseAllowList reads entries of the forms "sha256:<hex>" (colons between bytes
// allowed), a bare 64-digit hex fingerprint, "cn:<name>", or a bare common name.
func ParseAllowList(entries []string) (*AllowList, error) {
	a := &AllowList{fingerprints: map[string]bool{}, cns: map[string]bool{}}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		lower := strings.ToLower(e)
		switch {
		case strings.HasPrefix(lower, "sha256:"):
			fp, ok := normFingerprint(e[len("sha256:"):])
			if !ok {
				return nil, fmt.Errorf("mllp: allow-list entry %q: not a SHA-256 fingerprint", e)
			}
			a.fingerprints[fp] = true
		case strings.HasPrefix(lower, "cn:"):
			a.cns[e[len("cn:"):]] = true
		default:
			if fp, ok := normFingerprint(e); ok {
				a.fingerprints[fp] = true
			} else {
				a.cns[e] = true
			}
		}
	}
	return a, nil
}

func normFingerprint(s string) (string, bool) {
	s = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	if len(s) != 64 {
		return "", false
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", false
	}
	return s, true
}

// Empty reports whether the list admits nothing by itself (no entries).
func (a *AllowList) Empty() bool { return a == nil || len(a.fingerprints)+len(a.cns) == 0 }

// Allows reports whether the certificate is on the list.
func (a *AllowList) Allows(c *x509.Certificate) bool {
	return a.fingerprints[Fingerprint(c)] || a.cns[c.Subject.CommonName]
}

// TLSOptions are the files and client policy of an MLLP/TLS listener.
type TLSOptions struct {
	CertFile, KeyFile string // server certificate chain and key (PEM)
	// ClientCAFile (PEM), when set, requires clients to present a certificate issued by
	// one of these CAs (mutual TLS).
	ClientCAFile string
	// Allow, when not empty, admits only client certificates on the list. Without a
	// client CA only fingerprints may be listed (pinned self-signed certificates): a
	// common name proves nothing unless a trusted CA issued the certificate.
	Allow []string
}

// TLSConfig builds the server's tls.Config.
func TLSConfig(o TLSOptions) (*tls.Config, error) {
	if o.CertFile == "" || o.KeyFile == "" {
		return nil, errors.New("mllp: TLS needs both a certificate and a key file")
	}
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("mllp: load TLS key pair: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	allow, err := ParseAllowList(o.Allow)
	if err != nil {
		return nil, err
	}
	switch {
	case o.ClientCAFile != "":
		pem, err := os.ReadFile(o.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("mllp: read client CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mllp: no PEM certificate in client CA file %s", o.ClientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	case !allow.Empty():
		if len(allow.cns) > 0 {
			return nil, errors.New("mllp: allowing clients by common name needs a client CA (--mllp-client-ca); without one, list certificate fingerprints")
		}
		cfg.ClientAuth = tls.RequireAnyClientCert
	}
	if !allow.Empty() {
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("mllp: client certificate required")
			}
			if !allow.Allows(cs.PeerCertificates[0]) {
				return fmt.Errorf("mllp: client certificate CN=%q sha256=%s is not on the allow-list",
					cs.PeerCertificates[0].Subject.CommonName, Fingerprint(cs.PeerCertificates[0]))
			}
			return nil
		}
	}
	return cfg, nil
}
