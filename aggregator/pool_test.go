package aggregator

import (
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/seedtest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// Workers start as probes need them, never more than max; probes beyond
// that wait in order, submit never blocks, and close returns those still
// waiting without running them.
func TestPoolStartsWorkersOnDemand(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var ran []*target
	running, most := 0, 0
	p := newPool(3, func(tg *target, _ *workerBuf) {
		mu.Lock()
		ran = append(ran, tg)
		running++
		most = max(most, running)
		mu.Unlock()
		<-release
		mu.Lock()
		running--
		mu.Unlock()
	})
	if p.size() != 0 {
		t.Fatalf("%d workers before any probe", p.size())
	}
	p.submit(&target{})
	eventually(t, "the first probe runs", func() bool { mu.Lock(); defer mu.Unlock(); return len(ran) == 1 })
	release <- struct{}{}
	eventually(t, "the worker is idle", func() bool { mu.Lock(); defer mu.Unlock(); return running == 0 })
	p.submit(&target{})
	eventually(t, "the second probe runs", func() bool { mu.Lock(); defer mu.Unlock(); return len(ran) == 2 })
	if p.size() != 1 {
		t.Fatalf("%d workers for probes one at a time, want the idle one reused", p.size())
	}
	var queued []*target
	for range 6 { // two more workers start; four probes wait
		tg := &target{}
		queued = append(queued, tg)
		p.submit(tg)
	}
	eventually(t, "three probes run at once", func() bool { mu.Lock(); defer mu.Unlock(); return running == 3 })
	release <- struct{}{} // one worker free: the oldest waiting probe runs
	eventually(t, "a waiting probe runs", func() bool { mu.Lock(); defer mu.Unlock(); return len(ran) == 5 })
	mu.Lock()
	if ran[4] != queued[2] || p.size() != 3 || most != 3 {
		mu.Unlock()
		t.Fatalf("%d workers, at most %d at once, the oldest waiting probe ran %v: want 3, 3, true", p.size(), most, ran[4] == queued[2])
	}
	mu.Unlock()
	closed := make(chan []*target)
	go func() { closed <- p.close() }()
	eventually(t, "close", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.closed })
	for range 3 {
		release <- struct{}{}
	}
	if waiting := <-closed; len(waiting) != 3 || waiting[0] != queued[3] || waiting[2] != queued[5] {
		t.Fatalf("close returned %d waiting probes, want the last three", len(waiting))
	}
	if p.submit(&target{}) {
		t.Fatal("submit after close")
	}
}

// After a burst of blocking probes (a fleet's first round dials every
// instance), the workers it needed end, but for a few spares.
func TestPoolKeepsAFewSpareWorkers(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	running := 0
	p := newPool(100, func(*target, *workerBuf) {
		mu.Lock()
		running++
		mu.Unlock()
		<-release
	})
	for range 30 {
		p.submit(&target{})
	}
	eventually(t, "30 probes run at once", func() bool { mu.Lock(); defer mu.Unlock(); return running == 30 })
	close(release)
	eventually(t, "the pool shrinks", func() bool { return p.size() == spareWorkers })
	p.submit(&target{}) // a spare takes it
	eventually(t, "the probe runs", func() bool { mu.Lock(); defer mu.Unlock(); return running == 31 })
	if n := p.size(); n != spareWorkers {
		t.Fatalf("%d workers after one more probe, want the %d spares", n, spareWorkers)
	}
	p.close()
}

// An aggregator of 20 instances holds a few goroutines, not a pool of
// max_concurrency workers (1024 by default).
func TestAFewInstancesHoldFewGoroutines(t *testing.T) {
	srv := seedtest.NewServer(t, seedtest.HealthzReady)
	before := runtime.NumGoroutine()
	agg := New(Options{Store: membership.NewStore(0), Logger: slog.New(slog.DiscardHandler)})
	var insts []upstreams.Instance
	for i := range 20 {
		insts = append(insts, upstreams.Instance{ID: fmt.Sprint(i), Address: srv.Addr()})
	}
	p := httpProbe("/readyz", upstreams.DialectHealthz)
	p.Interval = 100 * time.Millisecond
	if err := agg.Apply([]upstreams.Cluster{{Name: "c", Liveness: p, Readiness: p, Instances: insts}}); err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, agg)
	select {
	case <-agg.FirstRound():
	case <-time.After(10 * time.Second):
		t.Fatal("first round not done")
	}
	if n, workers := runtime.NumGoroutine()-before, agg.workers.size(); workers > 20 || n > 20+10 {
		t.Fatalf("%d goroutines more, %d workers, for 20 instances", n, workers)
	}
}

// eventually polls cond until it holds or a generous limit passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
