package probe

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/upstreams"
)

func tlsServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64, *x509.CertPool) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv, &conns, pool
}

func TestHTTPSWithSelfSignedCert(t *testing.T) {
	var protos atomic.Value
	srv, conns, pool := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protos.Store(r.Proto)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/chunked" {
			for i := 0; i < 20; i++ {
				_, _ = fmt.Fprintf(w, "%0500d", i) // a failed write shows in what the client gets
				w.(http.Flusher).Flush()
			}
			return
		}
		_, _ = w.Write([]byte(`{"status":"pass"}`)) // a failed write shows in what the client gets
	}))
	addr := srv.Listener.Addr().String()
	c := mustChecker(t, upstreams.KindHTTP, "https", addr, CheckerOptions{TLS: &tls.Config{RootCAs: pool}})
	small := mustRequest(t, httpProbe("/healthz"), addr, RequestOptions{})
	chunked := mustRequest(t, httpProbe("/chunked"), addr, RequestOptions{})
	var s Scratch
	for i := 0; i < 5; i++ {
		var r Response
		c.Check(small, time.Now().Add(probeTimeout), &s, &r)
		if r.Err != nil || r.StatusCode != 200 || string(r.Body) != `{"status":"pass"}` || r.ContentType != "application/json" {
			t.Fatalf("probe %d: %d %q %v", i, r.StatusCode, r.Body, r.Err)
		}
		r = Response{}
		c.Check(chunked, time.Now().Add(probeTimeout), &s, &r)
		if r.Err != nil || len(r.Body) != 20*500 {
			t.Fatalf("chunked probe %d: %d bytes %v", i, len(r.Body), r.Err)
		}
	}
	if conns.Load() != 1 {
		t.Errorf("server saw %d connections, want 1", conns.Load())
	}
	if p, _ := protos.Load().(string); p != "HTTP/1.1" {
		t.Errorf("server saw protocol %q, want HTTP/1.1", p)
	}
}

func TestHTTPSRejectsUnknownCert(t *testing.T) {
	srv, _, _ := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	addr := srv.Listener.Addr().String()
	c := mustChecker(t, upstreams.KindHTTP, "https", addr, CheckerOptions{})
	var r Response
	c.Check(mustRequest(t, httpProbe("/"), addr, RequestOptions{}), time.Now().Add(probeTimeout), &Scratch{}, &r)
	if r.Err == nil || !strings.HasPrefix(r.Err.Error(), "tls handshake: ") || !strings.Contains(r.Err.Error(), "certificate") {
		t.Fatalf("err = %v, want a certificate verification failure", r.Err)
	}
}

func TestHTTPSStaleConnectionRetried(t *testing.T) {
	srv, closed := idleClosingServer(t, true)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	addr := srv.Listener.Addr().String()
	h := &httpTarget{
		c:   mustChecker(t, upstreams.KindHTTP, "https", addr, CheckerOptions{TLS: &tls.Config{RootCAs: pool}}),
		req: mustRequest(t, httpProbe("/"), addr, RequestOptions{}),
	}
	if r := h.probe(probeTimeout); r.Err != nil {
		t.Fatal(r.Err)
	}
	eventually(t, "the idle connection to be closed", func() bool { return closed.Load() == 1 })
	if r := h.probe(probeTimeout); r.Err != nil || string(r.Body) != "ok" {
		t.Fatalf("probe after idle close: %q %v", r.Body, r.Err)
	}
	if st := stats(t, h.c); st.StaleRetries != 1 {
		t.Errorf("stats %+v, want 1 stale retry", st)
	}
}
