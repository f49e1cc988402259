package probe

import (
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/testpki"
	"github.com/vigilhq/vigil/upstreams"
)

// pkiServer is an HTTPS server whose certificate leaf is, configured by
// tune (client certificate checks, say). It answers 200 "ok" and records
// the SNI name and client certificate of the last request.
type pkiServer struct {
	*httptest.Server
	sni, client atomic.Value // string
}

func newPKIServer(t *testing.T, leaf *testpki.Leaf, tune func(*tls.Config)) *pkiServer {
	t.Helper()
	s := &pkiServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.sni.Store(r.TLS.ServerName)
		if len(r.TLS.PeerCertificates) > 0 {
			s.client.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
		}
		_, _ = w.Write([]byte("ok")) // a failed write shows in what the client gets
	}))
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of some tests
	s.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}}
	if tune != nil {
		tune(s.TLS)
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// probeWith runs one https probe of srv with the probe's own TLS settings.
func probeWith(t *testing.T, srv *pkiServer, settings *upstreams.TLS) Response {
	t.Helper()
	p := httpProbe("/")
	p.Scheme, p.TLS = "https", settings
	addr := srv.Listener.Addr().String()
	c, err := NewProbeChecker(p, addr, CheckerOptions{TLSConfigs: NewTLSConfigs()})
	if err != nil {
		t.Fatalf("NewProbeChecker: %v", err)
	}
	defer c.Close() //nolint:errcheck // test cleanup
	var r Response
	c.Check(mustRequest(t, p, addr, RequestOptions{}), time.Now().Add(probeTimeout), &Scratch{}, &r)
	return r
}

func wantPass(t *testing.T, what string, r Response) {
	t.Helper()
	if r.Err != nil || r.StatusCode != 200 || string(r.Body) != "ok" {
		t.Errorf("%s: %d %q %v, want 200 ok", what, r.StatusCode, r.Body, r.Err)
	}
}

func wantFail(t *testing.T, what string, r Response, says ...string) {
	t.Helper()
	if r.Err == nil {
		t.Errorf("%s: passed (%d), want a failure", what, r.StatusCode)
		return
	}
	for _, s := range says {
		if !strings.Contains(r.Err.Error(), s) {
			t.Errorf("%s: %q does not say %q", what, r.Err, s)
		}
	}
}

// A server whose certificate a private CA signed: a probe trusting that CA
// passes; without it, or trusting another CA, it fails saying why and what
// to set.
func TestHTTPSProbeTrustsItsCA(t *testing.T) {
	ca, other := testpki.NewCA(t, "test CA"), testpki.NewCA(t, "other CA")
	srv := newPKIServer(t, ca.Server(t, "127.0.0.1"), nil)

	wantPass(t, "with ca_file", probeWith(t, srv, &upstreams.TLS{CAFile: "ca.pem", CAPEM: ca.CertPEM}))
	for what, s := range map[string]*upstreams.TLS{"system roots": nil, "another CA": {CAFile: "other.pem", CAPEM: other.CertPEM}} {
		wantFail(t, what, probeWith(t, srv, s), "tls handshake: ", "certificate signed by unknown authority",
			"(trust its CA with the probe's tls.ca_file)")
	}
	wantPass(t, "insecure_skip_verify", probeWith(t, srv, &upstreams.TLS{InsecureSkipVerify: true}))
}

// server_name replaces the target's host for verification and SNI.
func TestHTTPSProbeServerName(t *testing.T) {
	ca := testpki.NewCA(t, "test CA")
	srv := newPKIServer(t, ca.Server(t, "api.internal"), nil) // no IP in the certificate
	wantFail(t, "no server_name", probeWith(t, srv, &upstreams.TLS{CAPEM: ca.CertPEM}),
		"127.0.0.1", "(set the probe's tls.server_name to a name the certificate holds)")
	wantFail(t, "wrong server_name", probeWith(t, srv, &upstreams.TLS{CAPEM: ca.CertPEM, ServerName: "web.internal"}), "web.internal")
	wantPass(t, "server_name", probeWith(t, srv, &upstreams.TLS{CAPEM: ca.CertPEM, ServerName: "api.internal"}))
	if got, _ := srv.sni.Load().(string); got != "api.internal" {
		t.Errorf("server saw SNI %q, want api.internal", got)
	}
}

// Mutual TLS: the server requires a client certificate its CA signed.
func TestHTTPSProbeMutualTLS(t *testing.T) {
	ca, other := testpki.NewCA(t, "test CA"), testpki.NewCA(t, "other CA")
	srv := newPKIServer(t, ca.Server(t, "127.0.0.1"), func(c *tls.Config) {
		c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, ca.Pool()
	})
	client, stranger := ca.Client(t, "vigil-prober"), other.Client(t, "stranger")

	wantPass(t, "client certificate", probeWith(t, srv, &upstreams.TLS{CAPEM: ca.CertPEM, CertPEM: client.CertPEM, KeyPEM: client.KeyPEM}))
	if got, _ := srv.client.Load().(string); got != "vigil-prober" {
		t.Errorf("server saw client certificate %q, want vigil-prober", got)
	}
	// TLS 1.3 reports the server's refusal on the first read, after the
	// handshake; either way the probe fails naming the certificate.
	wantFail(t, "no client certificate", probeWith(t, srv, &upstreams.TLS{CAPEM: ca.CertPEM}),
		"certificate", "(the server asks for a client certificate it trusts: the probe's tls.cert_file and tls.key_file)")
	wantFail(t, "client certificate of another CA", probeWith(t, srv,
		&upstreams.TLS{CAPEM: ca.CertPEM, CertPEM: stranger.CertPEM, KeyPEM: stranger.KeyPEM}), "certificate", "tls.cert_file")
}

// Probes with the same TLS settings share a checker key and one built
// config; different settings do not.
func TestTLSSettingsKeyAndSharing(t *testing.T) {
	ca, other := testpki.NewCA(t, "test CA"), testpki.NewCA(t, "other CA")
	a := &upstreams.Probe{Kind: upstreams.KindHTTP, Scheme: "https", TLS: &upstreams.TLS{CAPEM: ca.CertPEM}}
	same := &upstreams.Probe{Kind: upstreams.KindHTTP, Scheme: "https", TLS: &upstreams.TLS{CAFile: "elsewhere.pem", CAPEM: ca.CertPEM}}
	b := &upstreams.Probe{Kind: upstreams.KindHTTP, Scheme: "https", TLS: &upstreams.TLS{CAPEM: other.CertPEM}}
	plain := &upstreams.Probe{Kind: upstreams.KindHTTP, Scheme: "https"}
	const addr = "10.0.0.1:443"
	if CheckerKey(a, addr) != CheckerKey(same, addr) {
		t.Error("equal TLS material, different checker keys")
	}
	if CheckerKey(a, addr) == CheckerKey(b, addr) || CheckerKey(a, addr) == CheckerKey(plain, addr) {
		t.Error("different TLS settings share a checker key")
	}
	cache := NewTLSConfigs()
	c1, err1 := cache.get(nil, a.TLS)
	c2, err2 := cache.get(nil, same.TLS)
	c3, err3 := cache.get(nil, b.TLS)
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatal(err1, err2, err3)
	}
	if c1 != c2 || c1 == c3 {
		t.Errorf("configs: same settings shared %v, different ones shared %v", c1 == c2, c1 == c3)
	}
}
