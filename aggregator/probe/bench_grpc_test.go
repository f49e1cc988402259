//go:build linux

package probe

import (
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/fdbudget"
	"github.com/vigilhq/vigil/upstreams"
)

// BenchmarkGRPCCheckKept is one gRPC health probe on the connection the
// checker keeps (an instance within the fd budget's kept share).
func BenchmarkGRPCCheckKept(b *testing.B) {
	benchGRPC(b, fdbudget.Plan{Limit: 1000, Reserve: 900, Kept: 90, ShortLived: 10}, 0)
}

// BenchmarkGRPCCheckShortLived is one gRPC health probe on a short-lived
// connection, as vigil probes instances beyond its fd budget's kept share:
// a new ClientConn (dial, HTTP/2 handshake), the Check, and a close with a
// reset. time-wait is how many TIME_WAIT sockets to the server were left.
func BenchmarkGRPCCheckShortLived(b *testing.B) {
	benchGRPC(b, fdbudget.Plan{Limit: 1000, Reserve: 990, Kept: 0, ShortLived: 10}, 1)
}

func benchGRPC(b *testing.B, plan fdbudget.Plan, shortPerOp uint64) {
	addr := benchServer(b, "grpc")
	c := mustChecker(b, upstreams.KindGRPC, "http", addr, CheckerOptions{Budget: fdbudget.New(plan)})
	req := mustRequest(b, &upstreams.Probe{Kind: upstreams.KindGRPC}, addr, RequestOptions{})
	var r Response
	c.Check(req, time.Now().Add(5*time.Second), nil, &r) // the kept connection, if any, is up
	if r.Err != nil || r.StatusCode != 200 {
		b.Fatalf("warm-up probe: %d %v", r.StatusCode, r.Err)
	}
	before := stats(b, c).ShortLived
	b.ReportAllocs()
	var m cpuMeter
	m.begin(b)
	for i := 0; i < b.N; i++ {
		r = Response{}
		c.Check(req, time.Now().Add(5*time.Second), nil, &r)
		if r.Err != nil || r.StatusCode != 200 {
			b.Fatalf("probe: %d %v", r.StatusCode, r.Err)
		}
	}
	m.end(b)
	if got, want := stats(b, c).ShortLived-before, shortPerOp*uint64(b.N); got != want {
		b.Errorf("%d short-lived connections for %d probes, want %d", got, b.N, want)
	}
	b.ReportMetric(float64(timeWaitTo(b, addr)), "time-wait")
}
