//go:build unix

package aggregator

import (
	"github.com/vigilhq/vigil/internal/benchproc"
	"github.com/vigilhq/vigil/membership"

	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/aggregator/probe"
	"github.com/vigilhq/vigil/internal/seedtest"
	"github.com/vigilhq/vigil/upstreams"
)

// The probed servers run in a child process (this test binary re-run with
// aggBenchEnv set to the number of servers), so allocs/op and cpu-us/op
// count the aggregator only.
const aggBenchEnv = "VIGIL_AGG_BENCH_SERVERS"

// TestAggBenchServerProcess is the child: n /readyz engines answering
// ready, each on its own port, until stdin closes.
func TestAggBenchServerProcess(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(aggBenchEnv))
	if n <= 0 {
		t.Skip("helper process for benchmarks")
	}
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = seedtest.NewServer(t, seedtest.HealthzReady).Addr()
	}
	fmt.Println("ADDRS", strings.Join(addrs, ","))
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes stdin: how it ends does not matter
}

// aggBenchServers starts n servers in a child process and returns their addresses.
func aggBenchServers(b *testing.B, n int) []string {
	b.Helper()
	child := benchproc.Start(b, "TestAggBenchServerProcess", aggBenchEnv+"="+strconv.Itoa(n))
	list := child.Await(b, "ADDRS ")
	child.Discard()
	return strings.Split(list, ",")
}

func benchCluster(addrs []string, interval time.Duration) upstreams.Cluster {
	p := func() *upstreams.Probe {
		pr := httpProbe("/readyz", upstreams.DialectHealthz)
		pr.Interval, pr.UnhealthyInterval, pr.JitterPercent = interval, interval, 10
		return pr
	}
	c := upstreams.Cluster{Name: "bench", InitialStatus: upstreams.InitialUnhealthy, Liveness: p(), Readiness: p()}
	for i, a := range addrs {
		c.Instances = append(c.Instances, upstreams.Instance{ID: fmt.Sprintf("i%05d", i), Address: a})
	}
	return c
}

// BenchmarkProbeOnce is one readiness probe through the aggregator's whole
// per-probe path, without the scheduler's dispatch: the HTTP check on a
// keep-alive connection, the dialect, history, state machine, status
// check and requeue. cpu-us/op is the process's CPU per probe.
func BenchmarkProbeOnce(b *testing.B) {
	addrs := aggBenchServers(b, 1)
	a := New(Options{Store: membership.NewStore(0), Logger: slog.New(slog.DiscardHandler), BlockingProbes: true})
	if err := a.Apply([]upstreams.Cluster{benchCluster(addrs, time.Second)}); err != nil {
		b.Fatal(err)
	}
	inst := a.clusters["bench"].instances["i00000"]
	b.Cleanup(func() { inst.mu.Lock(); inst.closeCheckers(); inst.mu.Unlock() })
	t := inst.ready
	var resp probe.Response
	scratch := &probe.Scratch{Buf: make([]byte, 0, 4096)}
	probeOnce := func() {
		inst.mu.Lock()
		inst.run.due(t)
		inst.mu.Unlock()
		start := a.begin(t)
		resp = probe.Response{}
		t.checker.Check(t.req, time.Now().Add(t.spec.Timeout), scratch, &resp)
		a.finish(t, start, &resp, false)
	}
	probeOnce() // connects
	if resp.Err != nil || resp.StatusCode != 200 {
		b.Fatalf("probe: %d %v", resp.StatusCode, resp.Err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := benchproc.CPU()
	for i := 0; i < b.N; i++ {
		probeOnce()
	}
	b.StopTimer()
	b.ReportMetric(float64((benchproc.CPU()-cpu0).Nanoseconds())/float64(b.N)/1e3, "cpu-us/op")
	if resp.Err != nil {
		b.Fatal(resp.Err)
	}
}

// BenchmarkAggregatorSteady runs the aggregator (scheduler, workers,
// probes, store) on n instances, each its own server, liveness and
// readiness every second with 10% jitter, as `make bench` does. One op is
// one completed probe, so ns/op is about 1/(probes per second) and
// cpu-us/op the process's CPU per probe: the number to compare with the
// fleet benchmark (which adds metrics, the event stream and xDS).
func BenchmarkAggregatorSteady(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		a := steadyAggregator(b, n) // once: b.Run calls its function again for every b.N
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			st0 := a.Stats()
			b.ResetTimer()
			t0, c0 := time.Now(), benchproc.CPU()
			for a.Stats().Completed-st0.Completed < uint64(b.N) {
				time.Sleep(5 * time.Millisecond)
			}
			wall, cpu := time.Since(t0), benchproc.CPU()-c0
			b.StopTimer()
			st := a.Stats()
			done := st.Completed - st0.Completed
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(done)/1e3, "cpu-us/op")
			b.ReportMetric(float64(done)/wall.Seconds(), "probes/s")
			if started := st.Probes - st0.Probes; started > 0 {
				b.ReportMetric(100*float64(st.Late-st0.Late)/float64(started), "late-%")
			}
		})
	}
}

// steadyAggregator runs an aggregator on n servers until the benchmark
// ends and returns it once its first round is done.
func steadyAggregator(b *testing.B, n int) *Aggregator {
	addrs := aggBenchServers(b, n)
	a := New(Options{Store: membership.NewStore(0), Logger: slog.New(slog.DiscardHandler)})
	if err := a.Apply([]upstreams.Cluster{benchCluster(addrs, time.Second)}); err != nil {
		b.Fatal(err)
	}
	runUntilCleanup(b, a)
	select {
	case <-a.FirstRound():
	case <-time.After(time.Minute):
		b.Fatal("first round not done in a minute")
	}
	time.Sleep(time.Second) // past the first round's connection setup
	return a
}

// BenchmarkUpdateMemberAmongClusters changes one member of a 1,000-member
// cluster, with three subscribers, while 0 or 9 other clusters of 1,000
// exist: a change must cost O(its cluster), whatever else the store holds.
func BenchmarkUpdateMemberAmongClusters(b *testing.B) {
	ids := make([]string, 1000)
	members := make([]membership.Member, len(ids))
	for i := range ids {
		ids[i] = fmt.Sprintf("i%04d", i)
		members[i] = membership.Member{Instance: upstreams.Instance{ID: ids[i], Address: fmt.Sprintf("10.0.%d.%d:80", i/256, i%256)},
			Status: membership.StatusHealthy}
	}
	for _, clusters := range []int{1, 10} {
		s := membership.NewStore(1000)
		for c := range clusters {
			s.PutCluster(&upstreams.Cluster{Name: fmt.Sprintf("c%02d", c)}, append([]membership.Member(nil), members...), nil)
		}
		for range 3 {
			sub := s.Subscribe(1024)
			b.Cleanup(sub.Close)
		}
		b.Run(fmt.Sprintf("clusters=%d", clusters), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				st := membership.StatusHealthy
				if i%2 == 1 {
					st = membership.StatusUnhealthy
				}
				ok := s.UpdateMember("c00", ids[i%len(ids)], func(m *membership.Member) (*membership.Event, bool) {
					m.Status = st
					return nil, true
				})
				if !ok {
					b.Fatal("no change")
				}
				i++
			}
		})
	}
}
