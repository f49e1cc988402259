package config_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/internal/testpki"
)

// tlsFiles writes a CA, a client certificate and its key, another key,
// and a file that is not PEM into dir.
func tlsFiles(t *testing.T, dir string) (ca *testpki.CA, client *testpki.Leaf) {
	t.Helper()
	ca = testpki.NewCA(t, "test CA")
	client = ca.Client(t, "vigil")
	testpki.WriteFile(t, dir, "ca.pem", ca.CertPEM)
	testpki.WriteFile(t, dir, "client.pem", client.CertPEM)
	testpki.WriteFile(t, dir, "client-key.pem", client.KeyPEM)
	testpki.WriteFile(t, dir, "other-key.pem", ca.Client(t, "other").KeyPEM)
	testpki.WriteFile(t, dir, "junk.pem", []byte("not a certificate\n"))
	return ca, client
}

// Files resolve against the config's directory and their contents are
// kept; an https probe inherits the innermost tls block as a whole, other
// probes none.
func TestTLSSettingsLoadAndInherit(t *testing.T) {
	dir := t.TempDir()
	ca, client := tlsFiles(t, dir)
	path := writeFile(t, dir, "vigil.yaml", `defaults:
  tls: {ca_file: ca.pem}
clusters:
  - name: secure
    liveness: {scheme: https, path: /live}
    readiness:
      scheme: https
      tls: {ca_file: ca.pem, cert_file: client.pem, key_file: client-key.pem, server_name: api.internal}
    instances: [{address: 127.0.0.1:8443}]
  - name: plain
    liveness: {path: /live}
    readiness: {kind: grpc}
    instances: [{address: 127.0.0.1:8080}]
  - name: own
    tls: {insecure_skip_verify: true}
    readiness: {scheme: https}
    instances: [{address: 127.0.0.1:9443}]
`)
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	live, ready := c.Clusters[0].Liveness.TLS, c.Clusters[0].Readiness.TLS
	if live == nil || !bytes.Equal(live.CAPEM, ca.CertPEM) || live.CertPEM != nil || live.ServerName != "" {
		t.Errorf("liveness (inherits defaults.tls) = %v", live)
	}
	if ready == nil || !bytes.Equal(ready.CAPEM, ca.CertPEM) || !bytes.Equal(ready.CertPEM, client.CertPEM) ||
		!bytes.Equal(ready.KeyPEM, client.KeyPEM) || ready.ServerName != "api.internal" {
		t.Errorf("readiness (its own tls) = %v", ready)
	}
	if p := c.Clusters[1]; p.Liveness.TLS != nil || p.Readiness.TLS != nil {
		t.Errorf("an http and a grpc probe inherited tls: %v / %v", p.Liveness.TLS, p.Readiness.TLS)
	}
	if own := c.Clusters[2].Readiness.TLS; own == nil || !own.InsecureSkipVerify || own.CAPEM != nil {
		t.Errorf("cluster tls replaces defaults.tls as a whole: %v", own)
	}
	if s := ready.String(); strings.Contains(s, "PRIVATE KEY") || !strings.Contains(s, "cert_file=client.pem") {
		t.Errorf("String() = %q: names the files, never the key", s)
	}
	if err := c.Finish(); err != nil { // idempotent, files read again
		t.Fatal(err)
	}
	if r := c.Clusters[0].Readiness.TLS; r == nil || !bytes.Equal(r.CertPEM, client.CertPEM) {
		t.Errorf("after a second Finish: %v", r)
	}
}

// Every tls problem is found at load, named by field and line.
func TestTLSSettingsProblems(t *testing.T) {
	dir := t.TempDir()
	tlsFiles(t, dir)
	path := writeFile(t, dir, "vigil.yaml", `defaults:
  tls: {ca_file: missing.pem}
clusters:
  - name: a
    readiness:
      scheme: https
      tls: {ca_file: junk.pem, cert_file: client.pem}
    liveness:
      scheme: https
      tls: {cert_file: client.pem, key_file: other-key.pem, server_name: "not a name"}
    instances: [{address: 127.0.0.1:8443}]
  - name: b
    tls: {ca_file: ca.pem, insecure_skip_verify: true, key_file: client-key.pem}
    readiness: {tls: {ca_file: ca.pem}}
    liveness: {kind: tcp, tls: {}}
    instances: [{address: 127.0.0.1:8080}]
`)
	_, err := config.Load(path)
	lines := problemLines(t, err)
	for _, want := range []string{
		path + `:2: defaults.tls.ca_file: cannot read: open ` + dir + `/missing.pem: no such file or directory`,
		path + `:7: clusters[0].readiness.tls.ca_file: junk.pem holds no PEM certificate`,
		path + `:7: clusters[0].readiness.tls.key_file: required with cert_file (the client certificate's private key)`,
		path + `:10: clusters[0].liveness.tls.key_file: other-key.pem is not the private key of cert_file client.pem: private key does not match public key`,
		path + `:10: clusters[0].liveness.tls.server_name: "not a name" is neither a hostname nor an IP address`,
		path + `:13: clusters[1].tls.insecure_skip_verify: cannot be combined with ca_file: nothing would be verified against it`,
		path + `:13: clusters[1].tls.cert_file: required with key_file (the client certificate)`,
		path + `:14: clusters[1].readiness.tls: only used by https probes (this probe's scheme is http)`,
		path + `:15: clusters[1].liveness.tls: only used by http probes (this probe's kind is tcp)`,
	} {
		hasLine(t, lines, want)
	}
	if len(lines) != 9 {
		t.Errorf("%d problems, want 9:\n%s", len(lines), join(lines))
	}
}
