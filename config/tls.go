package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"strings"
)

// loadTLS reads and checks the files of a tls block written at field
// (defaults.tls, clusters[0].tls, clusters[0].readiness.tls): each must
// exist and hold what it says, and the key must be the certificate's.
// The contents are kept in t for the probes to use.
func (c *Config) loadTLS(col *collector, field string, t *TLS) {
	if t == nil {
		return
	}
	f := func(key string) string { return field + "." + key }
	t.CAPEM, t.CertPEM, t.KeyPEM = nil, nil, nil
	if t.CAFile != "" {
		if t.CAPEM = c.readTLSFile(col, f("ca_file"), t.CAFile); t.CAPEM != nil {
			if n := countCerts(t.CAPEM); n == 0 {
				col.at(f("ca_file"), "%s holds no PEM certificate", t.CAFile)
				t.CAPEM = nil
			}
		}
		if t.InsecureSkipVerify {
			col.at(f("insecure_skip_verify"), "cannot be combined with ca_file: nothing would be verified against it")
		}
	}
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		col.at(f("key_file"), "required with cert_file (the client certificate's private key)")
	case t.KeyFile != "" && t.CertFile == "":
		col.at(f("cert_file"), "required with key_file (the client certificate)")
	case t.CertFile != "":
		cert := c.readTLSFile(col, f("cert_file"), t.CertFile)
		key := c.readTLSFile(col, f("key_file"), t.KeyFile)
		switch {
		case cert == nil || key == nil:
		case countCerts(cert) == 0:
			col.at(f("cert_file"), "%s holds no PEM certificate", t.CertFile)
		default:
			if _, err := tls.X509KeyPair(cert, key); err != nil {
				col.at(f("key_file"), "%s is not the private key of cert_file %s: %s", t.KeyFile, t.CertFile,
					strings.TrimPrefix(err.Error(), "tls: "))
			} else {
				t.CertPEM, t.KeyPEM = cert, key
			}
		}
	}
	if n := t.ServerName; n != "" && net.ParseIP(n) == nil && !hostnamePattern.MatchString(n) {
		col.at(f("server_name"), "%q is neither a hostname nor an IP address", n)
	}
}

// readTLSFile reads a file named in a tls block; nil when it cannot.
func (c *Config) readTLSFile(col *collector, field, name string) []byte {
	_, data, ok := c.readFile(col, field, "cannot read", name)
	if !ok {
		return nil
	}
	return data
}

// countCerts counts the PEM certificates in data that parse.
func countCerts(data []byte) int {
	n := 0
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return n
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(b.Bytes); err == nil {
			n++
		}
	}
}

// resolveTLS gives an https probe the tls block of the innermost level
// that has one; every other probe has none (Finish stays idempotent).
// levels[0] is the probe's own.
func resolveTLS(p *Probe, levels []level) {
	var found *TLS
	for _, l := range levels {
		if l.s.TLS != nil {
			t := *l.s.TLS
			found = &t
			break
		}
	}
	if p.Kind != DefaultKind || p.Scheme != "https" {
		found = nil
	}
	p.TLS = found
}

// tlsOnlyForHTTPS reports a tls block written on a probe that is not
// https; an inherited one is not an error (it is meant for other probes).
func tlsOnlyForHTTPS(col *collector, field string, p *Probe) {
	if p.TLS == nil || (p.Kind == DefaultKind && p.Scheme == "https") {
		return
	}
	if p.Kind != DefaultKind {
		return // reported with the other http-only fields
	}
	col.at(field, "only used by https probes (this probe's scheme is %s)", p.Scheme)
}

// String describes a tls block by its sources, never its key material, so
// printing a Config cannot show a private key.
func (t *TLS) String() string {
	if t == nil {
		return "none"
	}
	var parts []string
	for _, kv := range [][2]string{{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"server_name", t.ServerName}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	if t.InsecureSkipVerify {
		parts = append(parts, "insecure_skip_verify")
	}
	return fmt.Sprintf("tls{%s}", strings.Join(parts, " "))
}
