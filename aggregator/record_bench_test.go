package aggregator

import (
	"log/slog"
	"testing"
	"time"

	"github.com/vigilhq/vigil/aggregator/probe"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// BenchmarkRecordPassing is what the aggregator does with one passing
// probe's answer once it has it, without the network: evaluate it,
// record it, step the machine, decide the status and requeue the probe.
// It is the hot path the fail-safe and the ejection cap must not slow.
func BenchmarkRecordPassing(b *testing.B) {
	a := New(Options{Store: membership.NewStore(0), Logger: slog.New(slog.DiscardHandler), BlockingProbes: true})
	c := benchCluster([]string{"127.0.0.1:9"}, time.Second)
	if err := a.Apply([]upstreams.Cluster{c}); err != nil {
		b.Fatal(err)
	}
	inst := a.clusters["bench"].instances["i00000"]
	b.Cleanup(func() { inst.mu.Lock(); inst.closeCheckers(); inst.mu.Unlock() })
	t := inst.ready
	resp := probe.Response{StatusCode: 200, Body: []byte(`{"status":"ready"}`), ContentType: "application/json"}
	start := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		v := t.eval.Evaluate(&resp)
		inst.mu.Lock()
		a.recordLocked(t, start, &resp, v)
		inst.mu.Unlock()
	}
}
