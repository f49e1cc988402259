package probe

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/vigilhq/vigil/upstreams"
)

// grpcHealthServer serves grpc.health.v1 on addr ("" picks a port), with
// the given server options (e.g. TLS credentials).
func grpcHealthServer(t testing.TB, addr string, opts ...grpc.ServerOption) (*grpc.Server, *health.Server, string) {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	gs := grpc.NewServer(opts...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := gs.Serve(ln); err != nil {
			t.Errorf("grpc health server: %v", err)
		}
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-done
	})
	return gs, hs, ln.Addr().String()
}

func grpcProbe(t *testing.T, c Checker, addr, service string) Response {
	t.Helper()
	req := mustRequest(t, &upstreams.Probe{Kind: upstreams.KindGRPC, GRPCService: service}, addr, RequestOptions{})
	var r Response
	c.Check(req, time.Now().Add(probeTimeout), nil, &r)
	return r
}

func TestGRPCHealth(t *testing.T) {
	gs, hs, addr := grpcHealthServer(t, "")
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("orders", healthpb.HealthCheckResponse_NOT_SERVING)
	c := mustChecker(t, upstreams.KindGRPC, "http", addr, CheckerOptions{})

	cases := []struct {
		service string
		code    int
		status  string
	}{
		{"", 200, "SERVING"},
		{"orders", 503, "NOT_SERVING"},
		{"no-such-service", 503, "SERVICE_UNKNOWN"},
	}
	for _, tc := range cases {
		r := grpcProbe(t, c, addr, tc.service)
		if r.Err != nil || r.StatusCode != tc.code || r.GRPCStatus != tc.status || r.Latency <= 0 {
			t.Errorf("service %q: %d %q %v, want %d %q", tc.service, r.StatusCode, r.GRPCStatus, r.Err, tc.code, tc.status)
		}
	}
	hs.SetServingStatus("orders", healthpb.HealthCheckResponse_SERVING)
	if r := grpcProbe(t, c, addr, "orders"); r.Err != nil || r.StatusCode != 200 || r.GRPCStatus != "SERVING" {
		t.Errorf("orders after flip: %d %q %v", r.StatusCode, r.GRPCStatus, r.Err)
	}

	// Server gone: an RPC error, then recovery once it is back.
	gs.Stop()
	if r := grpcProbe(t, c, addr, ""); r.Err == nil || !strings.HasPrefix(r.Err.Error(), "grpc health: Unavailable") {
		t.Fatalf("server stopped: %d %q err=%v", r.StatusCode, r.GRPCStatus, r.Err)
	}
	_, hs2, _ := grpcHealthServer(t, addr)
	hs2.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	eventually(t, "the grpc checker to reconnect", func() bool {
		r := grpcProbe(t, c, addr, "")
		return r.Err == nil && r.StatusCode == 200
	})
}

func TestGRPCClosedChecker(t *testing.T) {
	_, _, addr := grpcHealthServer(t, "")
	c := mustChecker(t, upstreams.KindGRPC, "", addr, CheckerOptions{})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if r := grpcProbe(t, c, addr, ""); r.Err == nil {
		t.Fatal("closed checker probed")
	}
}

func TestGRPCHealthOverTLS(t *testing.T) {
	// Borrow httptest's self-signed certificate for the gRPC server.
	certSrc := httptest.NewTLSServer(http.NotFoundHandler())
	certSrc.Close()
	pool := x509.NewCertPool()
	pool.AddCert(certSrc.Certificate())

	_, _, addr := grpcHealthServer(t, "", grpc.Creds(credentials.NewServerTLSFromCert(&certSrc.TLS.Certificates[0])))

	c := mustChecker(t, upstreams.KindGRPC, "https", addr, CheckerOptions{TLS: &tls.Config{RootCAs: pool}})
	if r := grpcProbe(t, c, addr, ""); r.Err != nil || r.StatusCode != 200 || r.GRPCStatus != "SERVING" {
		t.Fatalf("grpc over TLS: %d %q %v", r.StatusCode, r.GRPCStatus, r.Err)
	}
	plain := mustChecker(t, upstreams.KindGRPC, "http", addr, CheckerOptions{})
	if r := grpcProbe(t, plain, addr, ""); r.Err == nil {
		t.Fatal("plaintext grpc probe of a TLS server succeeded")
	}
}
