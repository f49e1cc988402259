package main

import (
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/internal/testpki"
)

// TestTLSFilesReloadOnSIGHUP: an https probe of a server whose certificate
// a private CA signed, and that requires a client certificate (mTLS),
// fails while the probe's ca_file holds another CA, passes once the file
// holds the right one and vigil got SIGHUP, and fails again (its kept
// connection dropped) when the file changes back and vigil is told.
func TestTLSFilesReloadOnSIGHUP(t *testing.T) {
	serverCA, otherCA := testpki.NewCA(t, "server CA"), testpki.NewCA(t, "other CA")
	client := serverCA.Client(t, "vigil")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`) // a failed write shows in what the client gets
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCA.Server(t, "127.0.0.1").TLS},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: serverCA.Pool()}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	caFile := testpki.WriteFile(t, dir, "ca.pem", otherCA.CertPEM)
	certFile := testpki.WriteFile(t, dir, "client.pem", client.CertPEM)
	keyFile := testpki.WriteFile(t, dir, "client-key.pem", client.KeyPEM)
	setCA := func(ca *testpki.CA) {
		if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca.CertPEM, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	const cluster, id = "secure", "s1"
	r := startVigil(t, startFleet(t), func(cfg *config.Config) {
		cfg.Clusters = []config.Cluster{{Name: cluster, InitialStatus: "unknown", Dialect: "healthz",
			Readiness: &config.Probe{Scheme: "https", Path: "/readyz", ProbeSettings: config.ProbeSettings{
				TLS: &config.TLS{CAFile: caFile, CertFile: certFile, KeyFile: keyFile}}},
			Instances: []config.Instance{{ID: id, Address: srv.Listener.Addr().String()}}}}
	})

	r.waitStatus(cluster, id, "UNHEALTHY")
	if _, reason := r.statusOf(cluster, id); !strings.Contains(reason, "certificate signed by unknown authority") ||
		!strings.Contains(reason, "tls.ca_file") {
		t.Errorf("reason %q does not say the CA is unknown and what to set", reason)
	}

	setCA(serverCA)
	r.signals <- syscall.SIGHUP
	r.waitStatus(cluster, id, "HEALTHY")

	setCA(otherCA)
	r.signals <- syscall.SIGHUP
	r.waitStatus(cluster, id, "UNHEALTHY")
}
