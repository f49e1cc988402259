package probe

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/vigilhq/vigil/upstreams"
)

// NewProbeChecker is NewChecker for one probe of an instance: an https
// probe with TLS settings of its own gets a client config built from them
// (on top of opts.TLS), shared through opts.TLSConfigs when it is set.
func NewProbeChecker(p *upstreams.Probe, hostport string, opts CheckerOptions) (Checker, error) {
	if p.Scheme == "https" && p.TLS != nil {
		cfg, err := opts.TLSConfigs.get(opts.TLS, p.TLS)
		if err != nil {
			return nil, fmt.Errorf("new checker for %s: %w", hostport, err)
		}
		opts.TLS = cfg
	}
	return NewChecker(p.Kind, p.Scheme, hostport, opts)
}

// CheckerKey identifies the connection a probe needs: probes of an
// instance with equal keys can share one Checker. Two https probes share
// only when their TLS settings are the same.
func CheckerKey(p *upstreams.Probe, hostport string) string {
	key := string(p.Kind) + "|" + p.Scheme + "|" + hostport
	if p.Scheme == "https" && p.TLS != nil {
		sum := tlsKey(p.TLS)
		key += "|" + hex.EncodeToString(sum[:8])
	}
	return key
}

// TLSConfigs builds the client TLS configs of probes' TLS settings once
// per distinct settings, so a thousand instances of a cluster share one
// parsed CA pool and client certificate. Safe for concurrent use; a nil
// *TLSConfigs builds a new config on every call.
type TLSConfigs struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]*tls.Config
}

// NewTLSConfigs returns an empty cache.
func NewTLSConfigs() *TLSConfigs { return &TLSConfigs{m: map[[sha256.Size]byte]*tls.Config{}} }

// maxTLSConfigs bounds the cache: past it (a config reloaded with ever
// new material), it starts over. Checkers keep the configs they hold.
const maxTLSConfigs = 256

func (c *TLSConfigs) get(base *tls.Config, s *upstreams.TLS) (*tls.Config, error) {
	if c == nil {
		return BuildTLS(base, s)
	}
	key := tlsKey(s)
	c.mu.Lock()
	defer c.mu.Unlock()
	if cfg, ok := c.m[key]; ok {
		return cfg, nil
	}
	cfg, err := BuildTLS(base, s)
	if err != nil {
		return nil, err
	}
	if len(c.m) >= maxTLSConfigs {
		clear(c.m)
	}
	c.m[key] = cfg
	return cfg, nil
}

// BuildTLS returns base (or verified TLS 1.2+ with the system's roots when
// base is nil) with a probe's settings applied: its CA bundle as the only
// roots, its client certificate, its server name, or no verification.
func BuildTLS(base *tls.Config, s *upstreams.TLS) (*tls.Config, error) {
	var cfg *tls.Config
	if base != nil {
		cfg = base.Clone()
	} else {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if len(s.CAPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(s.CAPEM) {
			return nil, fmt.Errorf("tls ca_file %s: no PEM certificate", s.CAFile)
		}
		cfg.RootCAs = pool
	}
	if len(s.CertPEM) > 0 || len(s.KeyPEM) > 0 {
		cert, err := tls.X509KeyPair(s.CertPEM, s.KeyPEM)
		if err != nil {
			return nil, fmt.Errorf("tls cert_file %s, key_file %s: %w", s.CertFile, s.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if s.ServerName != "" {
		cfg.ServerName = s.ServerName
	}
	cfg.InsecureSkipVerify = s.InsecureSkipVerify
	return cfg, nil
}

// tlsKey digests everything in s that shapes a connection.
func tlsKey(s *upstreams.TLS) [sha256.Size]byte {
	h := sha256.New()
	for _, b := range [][]byte{s.CAPEM, s.CertPEM, s.KeyPEM, []byte(s.ServerName)} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	if s.InsecureSkipVerify {
		h.Write([]byte{1})
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// withTLSHint adds to the text of a probe failure on a TLS connection
// what to configure about it: the server's certificate did not verify, or
// the server refused the client's certificate (or its absence).
func withTLSHint(err error) error {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	hint := ""
	switch {
	case errors.As(err, &unknown):
		hint = "trust its CA with the probe's tls.ca_file"
	case errors.As(err, &host):
		hint = "set the probe's tls.server_name to a name the certificate holds"
	case refusedClientCert(err):
		hint = "the server asks for a client certificate it trusts: the probe's tls.cert_file and tls.key_file"
	default:
		return err
	}
	return &probeError{msg: err.Error() + " (" + hint + ")", cause: err}
}

// refusedClientCert reports an alert from the server about the client's
// certificate: bad_certificate, unknown_ca or certificate_required. crypto/tls
// hands received alerts over as a "remote error" whose type is unexported,
// so the alert is known by its text.
func refusedClientCert(err error) bool {
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "remote error" || oe.Err == nil {
		return false
	}
	switch oe.Err.Error() {
	case "tls: bad certificate", "tls: unknown certificate authority", "tls: certificate required":
		return true
	}
	return false
}
