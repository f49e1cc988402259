package upstreams_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/internal/testpki"
	"github.com/vigilhq/vigil/upstreams"
)

// An https probe's TLS settings carry the files' contents, copied; the key
// is never printed or encoded.
func TestFromConfigCarriesTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "test CA")
	client := ca.Client(t, "vigil")
	testpki.WriteFile(t, dir, "ca.pem", ca.CertPEM)
	testpki.WriteFile(t, dir, "client.pem", client.CertPEM)
	testpki.WriteFile(t, dir, "client-key.pem", client.KeyPEM)
	cfg, err := config.Load(testpki.WriteFile(t, dir, "vigil.yaml", []byte(`clusters:
  - name: c
    readiness:
      scheme: https
      tls: {ca_file: ca.pem, cert_file: client.pem, key_file: client-key.pem, server_name: api.internal}
    liveness: {path: /live}
    instances: [{address: 127.0.0.1:8443}]
`)))
	if err != nil {
		t.Fatal(err)
	}
	got := upstreams.FromConfig(cfg)[0]
	want := &upstreams.TLS{CAFile: "ca.pem", CertFile: "client.pem", KeyFile: "client-key.pem",
		CAPEM: ca.CertPEM, CertPEM: client.CertPEM, KeyPEM: client.KeyPEM, ServerName: "api.internal"}
	r := got.Readiness.TLS
	if r == nil || r.CAFile != want.CAFile || r.CertFile != want.CertFile || r.KeyFile != want.KeyFile || r.ServerName != want.ServerName ||
		!bytes.Equal(r.CAPEM, want.CAPEM) || !bytes.Equal(r.CertPEM, want.CertPEM) || !bytes.Equal(r.KeyPEM, want.KeyPEM) {
		t.Fatalf("readiness TLS = %+v, want %+v", r, want)
	}
	if got.Liveness.TLS != nil {
		t.Errorf("http liveness probe has TLS %+v", got.Liveness.TLS)
	}
	r.CAPEM[0] ^= 0xff
	if cfg.Clusters[0].Readiness.TLS.CAPEM[0] == r.CAPEM[0] {
		t.Error("the result shares the CA bytes with the config")
	}

	js, _ := json.Marshal(r)
	for _, s := range []string{fmt.Sprintf("%v", r), fmt.Sprintf("%+v", *r), fmt.Sprintf("%#v", *r), string(js)} {
		if strings.Contains(s, "PRIVATE KEY") || !strings.Contains(s, "[redacted]") {
			t.Errorf("key material printed, not redacted: %.300s", s)
		}
	}
}
