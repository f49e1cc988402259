//go:build unix

package probe

import (
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/vigilhq/vigil/internal/benchproc"

	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/vigilhq/vigil/upstreams"
)

// The benchmark server runs in a child process (this test binary re-run
// with helperEnv set), so allocs/op and cpu-us/op count the client only.
const helperEnv = "VIGIL_PROBE_BENCH_SERVER"

// TestBenchServerProcess is the child: it serves until stdin closes.
func TestBenchServerProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("helper process for benchmarks")
	}
	var addr string
	switch mode {
	case "raw":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close() //nolint:errcheck // test cleanup
		go serveFixed(ln)
		addr = ln.Addr().String()
	case "tls":
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"status":"ok"}`)) // a failed write shows in what the client gets
		}))
		srv.StartTLS()
		defer srv.Close()
		addr = srv.Listener.Addr().String()
	case "grpc":
		var hs *health.Server
		_, hs, addr = grpcHealthServer(t, "")
		hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	}
	fmt.Println("ADDR", addr)
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes stdin: how it ends does not matter
}

// benchServer starts the child server and returns its address.
func benchServer(b *testing.B, mode string) string {
	b.Helper()
	child := benchproc.Start(b, "TestBenchServerProcess", helperEnv+"="+mode)
	addr := child.Await(b, "ADDR ")
	child.Discard()
	return addr
}

// cpuMeter reports the process CPU (user+system) per op.
type cpuMeter struct{ start time.Duration }

func (m *cpuMeter) begin(b *testing.B) { b.ResetTimer(); m.start = benchproc.CPU() }

func (m *cpuMeter) end(b *testing.B) {
	b.StopTimer()
	used := benchproc.CPU() - m.start
	b.ReportMetric(float64(used.Nanoseconds())/float64(b.N)/1e3, "cpu-us/op")
}

func benchProbe(b *testing.B, scheme, mode string) {
	addr := benchServer(b, mode)
	opts := CheckerOptions{}
	if scheme == "https" {
		opts.TLS = &tls.Config{InsecureSkipVerify: true}
	}
	c := mustChecker(b, upstreams.KindHTTP, scheme, addr, opts)
	req := mustRequest(b, httpProbe("/healthz"), addr, RequestOptions{})
	var s Scratch
	var r Response
	c.Check(req, time.Now().Add(5*time.Second), &s, &r)
	if r.Err != nil {
		b.Fatal(r.Err)
	}
	b.ReportAllocs()
	var m cpuMeter
	m.begin(b)
	for i := 0; i < b.N; i++ {
		r = Response{}
		c.Check(req, time.Now().Add(time.Second), &s, &r)
		if r.Err != nil || r.StatusCode != 200 {
			b.Fatalf("probe: %d %v", r.StatusCode, r.Err)
		}
	}
	m.end(b)
	if st := stats(b, c); st.Dials != 1 {
		b.Errorf("stats %+v: connection not kept alive", st)
	}
}

// BenchmarkHTTPCheckKeepAlive is one keep-alive probe over loopback.
func BenchmarkHTTPCheckKeepAlive(b *testing.B) { benchProbe(b, "http", "raw") }

// BenchmarkHTTPSCheckKeepAlive is the same over TLS (net/http server).
func BenchmarkHTTPSCheckKeepAlive(b *testing.B) { benchProbe(b, "https", "tls") }

// BenchmarkNetHTTPKeepAlive does the same probe with a net/http client:
// a request per probe with a deadline context, body read fully.
func BenchmarkNetHTTPKeepAlive(b *testing.B) {
	addr := benchServer(b, "raw")
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	b.Cleanup(client.CloseIdleConnections)
	url := "http://" + addr + "/healthz"
	buf := make([]byte, 0, 4096)
	probe := func() {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Second))
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("User-Agent", "vigil/1")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		buf = buf[:0]
		for {
			n, err := resp.Body.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err != nil {
				break
			}
		}
		_ = resp.Body.Close() // a response body: nothing to lose
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	probe()
	b.ReportAllocs()
	var m cpuMeter
	m.begin(b)
	for i := 0; i < b.N; i++ {
		probe()
	}
	m.end(b)
}

// BenchmarkHTTPCheckParallel spreads probes over 64 connections at once,
// closer to the production pattern of many instances per worker pool.
func BenchmarkHTTPCheckParallel(b *testing.B) {
	addr := benchServer(b, "raw")
	const conns = 64
	checkers := make(chan Checker, conns)
	for i := 0; i < conns; i++ {
		checkers <- mustChecker(b, upstreams.KindHTTP, "http", addr, CheckerOptions{})
	}
	req := mustRequest(b, httpProbe("/healthz"), addr, RequestOptions{})
	b.ReportAllocs()
	b.SetParallelism(conns / max(1, runtimeProcs()))
	var m cpuMeter
	m.begin(b)
	b.RunParallel(func(pb *testing.PB) {
		c := <-checkers
		defer func() { checkers <- c }()
		var s Scratch
		var r Response
		for pb.Next() {
			r = Response{}
			c.Check(req, time.Now().Add(5*time.Second), &s, &r)
			if r.Err != nil {
				b.Errorf("probe: %v", r.Err)
				return
			}
		}
	})
	m.end(b)
}
