package aggregator

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/aggregator/dialect"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// hugeHealthzBody is a healthz answer of about size bytes: not_ready with
// tens of thousands of failing checks, each naming variant so that no two
// variants read the same (every result is new, none is shared), and a
// nested object beside them.
func hugeHealthzBody(size, variant int) []byte {
	var b strings.Builder
	b.WriteString(`{"status":"not_ready","topology":{"zones":[{"name":"z1","racks":[{"id":1,"hosts":["a","b"]}]}]},"checks":{`)
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"dependency-%d":"unreachable since restart %d of zone %d"`, i, variant, i%7)
	}
	b.WriteString(`}}`)
	return []byte(b.String())
}

// heapMiB is the live heap after a full collection.
func heapMiB() float64 {
	runtime.GC()
	runtime.GC() // the second clears what sync.Pools held through the first
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

// TestLargeBodiesDoNotGrowMemory: an instance answering multi-megabyte
// JSON bodies (allowed up to max_body_bytes 16 MiB) on both probes, with
// every answer different, is probed until each probe's history has been
// filled and overwritten; what vigil then holds (its history, verdicts,
// reasons, connections) stays within a few MiB. Each result keeps at most
// dialect.MaxComponents components (plus one counting the rest) and a
// reason of at most dialect.MaxReasonBytes. Without those bounds every
// result held all of the body's checks, and the heap grew by hundreds of
// MiB.
func TestLargeBodiesDoNotGrowMemory(t *testing.T) {
	const bodySize = 2 << 20
	bodies := [][]byte{hugeHealthzBody(bodySize, 1), hugeHealthzBody(bodySize, 2), hugeHealthzBody(bodySize, 3)}
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write(bodies[served.Add(1)%int64(len(bodies))]) // a failed write shows in what the client gets
	}))
	t.Cleanup(srv.Close)

	for _, blocking := range []bool{false, true} {
		t.Run(fmt.Sprintf("blocking=%v", blocking), func(t *testing.T) {
			before := heapMiB()
			// On the fake clock nothing runs between steps: what is
			// measured after one is what vigil keeps, workers and poller
			// still running.
			h := newHarness(t, blockingProbes(blocking))
			agg := h.agg
			probe := func(path string) *upstreams.Probe {
				p := httpProbe(path, upstreams.DialectHealthz)
				p.MaxBodyBytes = 16 << 20
				p.Interval, p.UnhealthyInterval, p.Timeout, p.JitterPercent = time.Second, time.Second, 10*time.Second, 0
				return p
			}
			h.apply(upstreams.Cluster{Name: "big", Liveness: probe("/live"), Readiness: probe("/ready"),
				Instances: []upstreams.Instance{{ID: "i", Address: srv.Listener.Addr().String()}}})
			h.settle(0, 2)
			// Until both histories were filled and a few results overwritten.
			for range membership.HistorySize + 5 {
				h.advance(time.Second, 2)
			}

			d, err := agg.Instance("big", "i")
			if err != nil {
				t.Fatal(err)
			}
			for _, ps := range []*membership.ProbeState{d.Liveness, d.Readiness} {
				if len(ps.History) != membership.HistorySize {
					t.Fatalf("%s: %d results in history, want %d", ps.Probe, len(ps.History), membership.HistorySize)
				}
				for _, r := range ps.History {
					if len(r.Components) > dialect.MaxComponents+1 || len(r.Reason) > dialect.MaxReasonBytes {
						t.Errorf("%s result keeps %d components and a %d-byte reason, want at most %d and %d",
							ps.Probe, len(r.Components), len(r.Reason), dialect.MaxComponents+1, dialect.MaxReasonBytes)
						break
					}
				}
			}
			if r := h.member("big", "i").Reason; len(r) > dialect.MaxReasonBytes+64 { // + "readiness: " and " (3 in a row)"
				t.Errorf("published reason is %d bytes", len(r))
			}

			after := heapMiB()
			runtime.KeepAlive(agg)
			t.Logf("%d probes of %d MiB bodies: heap %.1f MiB before, %.1f MiB after", agg.Stats().Completed, bodySize>>20, before, after)
			if grown := after - before; grown > 16 {
				t.Errorf("heap grew by %.1f MiB holding one instance's probe state, want at most 16 MiB", grown)
			}
		})
	}
}
