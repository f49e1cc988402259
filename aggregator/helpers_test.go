package aggregator

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/fakeclock"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

type fakeClock struct{ *fakeclock.Clock }

func (f fakeClock) NewTimer(d time.Duration) Timer { return f.Clock.NewTimer(d) }

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// harness runs an aggregator on a fake clock and records every event.
type harness struct {
	t     *testing.T
	clock fakeClock
	store *membership.Store
	agg   *Aggregator
	sub   *membership.Subscription
	mu    sync.Mutex
	evs   []membership.Event
}

// newHarness runs the shipped configuration (dispatch window and grid),
// with seeded jitter; opts change it for a test that needs to.
func newHarness(t *testing.T, opts ...func(*Options)) *harness {
	t.Helper()
	h := &harness{t: t, clock: fakeClock{fakeclock.New(t0)}, store: membership.NewStore(1000)}
	o := Options{Store: h.store, Clock: h.clock, MaxConcurrency: 8, Jitter: rand.NewPCG(1, 2)}
	for _, opt := range opts {
		opt(&o)
	}
	h.agg = New(o)
	h.sub = h.store.Subscribe(10000)
	t.Cleanup(h.sub.Close) // after Run ends (cleanups run last first)
	runUntilCleanup(t, h.agg)
	return h
}

// runUntilCleanup runs a until the test ends (also when a check fails).
func runUntilCleanup(tb testing.TB, a *Aggregator) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.Run(ctx); err != nil {
			tb.Errorf("Run: %v", err)
		}
	}()
	tb.Cleanup(func() { cancel(); <-done })
}

// blockingProbes runs every probe on the blocking path (workers only, no
// poller) when on is set.
func blockingProbes(on bool) func(*Options) { return func(o *Options) { o.BlockingProbes = on } }

// exactStarts turns the dispatch window and grid off, so that every probe
// starts at its own due time on the fake clock.
func exactStarts(o *Options) { o.DispatchWindow, o.DispatchGrid = -1, -1 }

func (h *harness) apply(clusters ...upstreams.Cluster) {
	h.t.Helper()
	if err := h.agg.Apply(clusters); err != nil {
		h.t.Fatal(err)
	}
}

// settle waits (in real time) until n more probes have completed since mark.
func (h *harness) settle(mark uint64, n int) uint64 {
	h.t.Helper()
	want := mark + uint64(n)
	deadline := time.Now().Add(10 * time.Second)
	for h.agg.Stats().Completed < want {
		if time.Now().After(deadline) {
			h.t.Fatalf("only %d of %d probes completed", h.agg.Stats().Completed-mark, n)
		}
		time.Sleep(time.Millisecond)
	}
	return want
}

// advance moves the fake clock by d and waits for n probes to complete.
func (h *harness) advance(d time.Duration, n int) {
	h.t.Helper()
	mark := h.agg.Stats().Completed
	h.clock.Advance(d)
	h.settle(mark, n)
}

// transitions drains the subscription and returns transition events so far.
func (h *harness) transitions() []membership.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	for {
		select {
		case <-h.sub.C():
			b := h.sub.Next()
			for _, ev := range b.Events {
				if ev.Kind == membership.EventTransition || ev.Kind == membership.EventOverride {
					h.evs = append(h.evs, ev)
				}
			}
			continue
		default:
		}
		break
	}
	return append([]membership.Event(nil), h.evs...)
}

func (h *harness) member(cluster, id string) membership.Member {
	h.t.Helper()
	c, ok := h.store.Cluster(cluster)
	if !ok {
		h.t.Fatalf("cluster %s missing from store", cluster)
	}
	m, ok := c.Member(id)
	if !ok {
		h.t.Fatalf("member %s/%s missing from store", cluster, id)
	}
	return *m
}

// readyzCluster is cluster api: one instance, a, at addr, probed for
// readiness on /readyz in the healthz dialect, initially unhealthy.
func readyzCluster(addr string) upstreams.Cluster {
	return upstreams.Cluster{Name: "api", InitialStatus: upstreams.InitialUnhealthy,
		Readiness: httpProbe("/readyz", upstreams.DialectHealthz),
		Instances: []upstreams.Instance{{ID: "a", Address: addr}}}
}

func httpProbe(path string, d upstreams.Dialect) *upstreams.Probe {
	return &upstreams.Probe{
		Kind: upstreams.KindHTTP, Scheme: "http", Path: path, Dialect: d,
		ExpectedStatuses: upstreams.DefaultStatuses, MaxBodyBytes: 64 << 10,
		Timing: upstreams.Timing{Interval: time.Second, UnhealthyInterval: 5 * time.Second, Timeout: 500 * time.Millisecond,
			HealthyThreshold: 2, UnhealthyThreshold: 3},
	}
}
