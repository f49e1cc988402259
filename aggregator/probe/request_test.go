package probe

import (
	"strings"
	"testing"

	"github.com/vigilhq/vigil/upstreams"
)

func TestNewRequestBuildsExactBytes(t *testing.T) {
	r := mustRequest(t, httpProbe("/readyz?verbose=1"), "10.0.0.7:8080", RequestOptions{})
	want := "GET /readyz?verbose=1 HTTP/1.1\r\nHost: 10.0.0.7:8080\r\nUser-Agent: vigil/1\r\nAccept: */*\r\n\r\n"
	if got := string(r.Bytes()); got != want {
		t.Fatalf("request bytes:\n got %q\nwant %q", got, want)
	}
	if r.MaxBodyBytes() != DefaultMaxBodyBytes {
		t.Errorf("MaxBodyBytes = %d, want default %d", r.MaxBodyBytes(), DefaultMaxBodyBytes)
	}
	if r.CollectHeaders() {
		t.Error("CollectHeaders on without the option")
	}
	if r.String() != "http GET /readyz?verbose=1" {
		t.Errorf("String() = %q", r.String())
	}
}

func TestNewRequestHostAndHeaders(t *testing.T) {
	p := httpProbe("")
	p.Host = "api.internal"
	p.MaxBodyBytes = 1024
	p.Headers = [][2]string{{"X-Probe", " liveness "}, {"Authorization", "Bearer t0k"}}
	r := mustRequest(t, p, "10.0.0.7:8080", RequestOptions{CollectHeaders: true})
	want := "GET / HTTP/1.1\r\nHost: api.internal\r\nUser-Agent: vigil/1\r\nAccept: */*\r\n" +
		"X-Probe: liveness\r\nAuthorization: Bearer t0k\r\n\r\n"
	if got := string(r.Bytes()); got != want {
		t.Fatalf("request bytes:\n got %q\nwant %q", got, want)
	}
	if r.MaxBodyBytes() != 1024 || !r.CollectHeaders() {
		t.Errorf("MaxBodyBytes=%d CollectHeaders=%v", r.MaxBodyBytes(), r.CollectHeaders())
	}
}

func TestNewRequestProbeHeadersOverrideDefaults(t *testing.T) {
	p := httpProbe("/h")
	p.Headers = [][2]string{{"user-agent", "kube-probe/1.30"}, {"Host", "vhost"}, {"ACCEPT", "application/json"}}
	r := mustRequest(t, p, "127.0.0.1:1", RequestOptions{})
	want := "GET /h HTTP/1.1\r\nuser-agent: kube-probe/1.30\r\nHost: vhost\r\nACCEPT: application/json\r\n\r\n"
	if got := string(r.Bytes()); got != want {
		t.Fatalf("request bytes:\n got %q\nwant %q", got, want)
	}
}

func TestNewRequestRejectsBrokenFraming(t *testing.T) {
	cases := map[string]func(p *upstreams.Probe){
		"relative path":     func(p *upstreams.Probe) { p.Path = "healthz" },
		"space in path":     func(p *upstreams.Probe) { p.Path = "/a b" },
		"CRLF in path":      func(p *upstreams.Probe) { p.Path = "/a\r\nX: y" },
		"CRLF in value":     func(p *upstreams.Probe) { p.Headers = [][2]string{{"X", "a\r\nInjected: 1"}} },
		"space in name":     func(p *upstreams.Probe) { p.Headers = [][2]string{{"X Y", "1"}} },
		"empty name":        func(p *upstreams.Probe) { p.Headers = [][2]string{{"", "1"}} },
		"content-length":    func(p *upstreams.Probe) { p.Headers = [][2]string{{"Content-Length", "3"}} },
		"transfer-encoding": func(p *upstreams.Probe) { p.Headers = [][2]string{{"Transfer-Encoding", "chunked"}} },
		"CRLF in host":      func(p *upstreams.Probe) { p.Host = "a\r\nb" },
		"unknown kind":      func(p *upstreams.Probe) { p.Kind = "udp" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			p := httpProbe("/healthz")
			mutate(p)
			if r, err := NewRequest(p, "127.0.0.1:80", RequestOptions{}); err == nil {
				t.Fatalf("NewRequest accepted it: %q", r.Bytes())
			}
		})
	}
	if _, err := NewRequest(nil, "127.0.0.1:80", RequestOptions{}); err == nil {
		t.Error("NewRequest(nil) succeeded")
	}
}

func TestNewRequestGRPCAndTCP(t *testing.T) {
	g := mustRequest(t, &upstreams.Probe{Kind: upstreams.KindGRPC, GRPCService: "orders.v1"}, "127.0.0.1:9", RequestOptions{})
	if g.Kind() != upstreams.KindGRPC || g.GRPCService() != "orders.v1" || g.Bytes() != nil {
		t.Errorf("grpc request: kind %s service %q bytes %q", g.Kind(), g.GRPCService(), g.Bytes())
	}
	if !strings.Contains(g.String(), "orders.v1") {
		t.Errorf("grpc String() = %q", g.String())
	}
	tc := mustRequest(t, &upstreams.Probe{Kind: upstreams.KindTCP}, "127.0.0.1:9", RequestOptions{})
	if tc.Kind() != upstreams.KindTCP || tc.Bytes() != nil || tc.GRPCService() != "" {
		t.Errorf("tcp request: kind %s bytes %q", tc.Kind(), tc.Bytes())
	}
}
