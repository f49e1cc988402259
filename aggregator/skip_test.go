package aggregator

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/aggregator/probe"
	"github.com/vigilhq/vigil/internal/fdbudget"
	"github.com/vigilhq/vigil/internal/seedtest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// skipCounter is an Observer that counts skipped probes by cause.
type skipCounter struct {
	mu      sync.Mutex
	skipped map[string]int
	done    int
}

func (c *skipCounter) ProbeDone(string, membership.ProbeName, membership.Outcome, time.Duration) {
	c.mu.Lock()
	c.done++
	c.mu.Unlock()
}

func (c *skipCounter) ProbeSkipped(cause string) {
	c.mu.Lock()
	if c.skipped == nil {
		c.skipped = map[string]int{}
	}
	c.skipped[cause]++
	c.mu.Unlock()
}

func (c *skipCounter) count(cause probe.SkipCause) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.skipped[string(cause)]
}

// waitSkips waits (in real time) until n probes were skipped for cause.
func (c *skipCounter) waitSkips(t *testing.T, cause probe.SkipCause, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.count(cause) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d probes skipped (%s), want %d", c.count(cause), cause, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func withObserver(o Observer) func(*Options) { return func(opts *Options) { opts.Observer = o } }

func withBudget(b *fdbudget.Budget) func(*Options) {
	return func(o *Options) { o.Checkers.Budget = b }
}

// A probe that vigil cannot run for want of its own resources is skipped:
// the instance keeps its verdict and counts (a single counted failure
// would turn it UNHEALTHY here), no result enters its history, /readyz's
// resources check says why until the skips stop, and the probe keeps its
// schedule.
func TestLocalFaultsKeepTheVerdict(t *testing.T) {
	srv := seedtest.NewServer(t, seedtest.HealthzReady)
	budget := fdbudget.New(fdbudget.Plan{Limit: 10, Reserve: 9, Kept: 0, ShortLived: 1})
	obs := &skipCounter{}
	h := newHarness(t, withBudget(budget), withObserver(obs), exactStarts)
	c := readyzCluster(srv.Addr())
	c.Readiness.UnhealthyThreshold = 1
	h.apply(c)
	h.settle(0, 1)
	if m := h.member("api", "a"); m.Status != membership.StatusHealthy {
		t.Fatalf("after the first probe: %s", m.Status)
	}
	for !budget.Short() { // the only short-lived slot, once the probe gave it back
		time.Sleep(time.Millisecond)
	}
	for i := 1; i <= 3; i++ {
		h.clock.Advance(time.Second)
		obs.waitSkips(t, probe.SkipFDBudget, i)
		d, err := h.agg.Instance("api", "a")
		if err != nil {
			t.Fatal(err)
		}
		if d.Member.Status != membership.StatusHealthy || d.Readiness.ConsecutiveSuccesses != 1 || len(d.Readiness.History) != 1 {
			t.Fatalf("after %d skipped probes: %s, %+v", i, d.Member.Status, d.Readiness)
		}
		if want := t0.Add(time.Duration(i+1) * time.Second); !d.Readiness.NextProbe.Equal(want) {
			t.Fatalf("after %d skipped probes the next is due at %s, want %s (on schedule)", i, d.Readiness.NextProbe, want)
		}
	}
	if srv.Accepts() != 1 {
		t.Errorf("skipped probes dialed: %d connections", srv.Accepts())
	}
	ok, detail := h.agg.Resources()
	if ok || !strings.Contains(detail, "fd_budget: ") || !strings.Contains(detail, "no connection slot free") {
		t.Errorf("resources while skipping: %v %q", ok, detail)
	}
	budget.Unshort()
	h.advance(time.Second, 1)
	d, _ := h.agg.Instance("api", "a")
	if d.Readiness.ConsecutiveSuccesses != 2 || len(d.Readiness.History) != 2 {
		t.Errorf("once a slot was free: %+v", d.Readiness)
	}
	if ok, detail := h.agg.Resources(); !ok {
		t.Errorf("resources a probe period after the last skip: %q", detail)
	}
	if evs := h.transitions(); len(evs) != 1 || evs[0].To != membership.StatusHealthy {
		t.Errorf("transitions %+v, want only the one to HEALTHY", evs)
	}
}

// A probe that waited for a worker for more than its period is skipped
// (late) instead of run stale, and goes back on its own schedule rather
// than being due again at once.
func TestAProbeTooLateForAWorkerIsSkipped(t *testing.T) {
	hang, err := net.Listen("tcp", "127.0.0.1:0") // accepts (the kernel does) and never answers
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hang.Close() }) // test cleanup
	good := seedtest.NewServer(t, seedtest.HealthzReady)
	obs := &skipCounter{}
	h := newHarness(t, blockingProbes(true), exactStarts, withObserver(obs), func(o *Options) { o.MaxConcurrency = 1 })
	slow := httpProbe("/readyz", upstreams.DialectHealthz)
	slow.Timeout = 2 * time.Second // in real time: the only worker is busy that long
	c := upstreams.Cluster{Name: "api", InitialStatus: upstreams.InitialUnhealthy, Readiness: slow,
		Instances: []upstreams.Instance{{ID: "hang", Address: hang.Addr().String()}, {ID: "good", Address: good.Addr()}}}
	h.apply(c) // first probes: hang at t0, good at t0+0.5s (spread over the interval)
	time.Sleep(50 * time.Millisecond)
	h.clock.Advance(500 * time.Millisecond) // good falls due, and waits for the worker
	h.clock.Advance(2 * time.Second)        // ... until it is 2 s (two periods) late
	obs.waitSkips(t, probe.SkipLate, 1)
	d, err := h.agg.Instance("api", "good")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Readiness.History) != 0 || d.Member.Status != membership.StatusUnhealthy || d.Member.Reason != "no probe result yet" {
		t.Fatalf("good after its late probe was skipped: %s %q, %+v", d.Member.Status, d.Member.Reason, d.Readiness)
	}
	if want := t0.Add(3500 * time.Millisecond); !d.Readiness.NextProbe.Equal(want) {
		t.Errorf("the skipped probe is next due at %s, want %s (its next slot, not at once)", d.Readiness.NextProbe, want)
	}
	ok, detail := h.agg.Resources()
	if ok || !strings.Contains(detail, "late: 1 in the last 1s") {
		t.Errorf("resources after a late skip: %v %q", ok, detail)
	}
}

// Short-lived connections: an instance's two probes still go out in one
// write, one connection per pair.
func TestShortLivedPairsGoInOneWrite(t *testing.T) {
	srv := seedtest.NewServer(t, seedtest.HealthzReady)
	budget := fdbudget.New(fdbudget.Plan{Limit: 10, Reserve: 8, Kept: 0, ShortLived: 2})
	h := newHarness(t, withBudget(budget), exactStarts)
	h.apply(upstreams.Cluster{Name: "api", InitialStatus: upstreams.InitialUnhealthy,
		Liveness: httpProbe("/healthz", upstreams.DialectHealthz), Readiness: httpProbe("/readyz", upstreams.DialectHealthz),
		Instances: []upstreams.Instance{{ID: "a1", Address: srv.Addr()}}})
	h.settle(0, 2) // the first round finds out the connection is short-lived: one at a time
	accepts, batched := srv.Accepts(), srv.Batched()
	for range 3 {
		h.advance(time.Second, 2)
	}
	if n := srv.Accepts() - accepts; n != 3 {
		t.Errorf("3 rounds took %d connections, want 3 (one per pair)", n)
	}
	if n := srv.Batched() - batched; n != 3 {
		t.Errorf("%d of 3 pairs came in one read", n)
	}
	if st := budget.Stats(); st.KeptInUse != 0 || st.ShortLivedInUse != 0 {
		t.Errorf("budget after the rounds: %+v", st)
	}
}
