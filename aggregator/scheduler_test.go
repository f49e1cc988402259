package aggregator

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/fakeclock"
	"github.com/vigilhq/vigil/upstreams"
)

// The due heap hands targets out in due order through any mix of pushes,
// moves and removals, and keeps every target's index right.
func TestDueHeapOrderUnderMovesAndRemovals(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Unix(1_700_000_000, 0)
	s := newScheduler(RealClock{}, 0, nil)
	var all []*target
	for i := range 500 {
		tg := &target{heapIdx: -1}
		all = append(all, tg)
		s.add(tg, base.Add(time.Duration(rng.IntN(10_000))*time.Millisecond))
		if i%3 == 0 { // move an earlier one
			s.add(all[rng.IntN(len(all))], base.Add(time.Duration(rng.IntN(10_000))*time.Millisecond))
		}
		if i%7 == 0 { // remove one (possibly not queued any more)
			s.remove(all[rng.IntN(len(all))])
		}
	}
	for i, e := range s.q {
		if e.t.heapIdx != i || e.key != e.t.dueKey {
			t.Fatalf("entry %d: target says it is at %d, key %d vs due %d", i, e.t.heapIdx, e.key, e.t.dueKey)
		}
	}
	queued := 0
	for _, tg := range all {
		if tg.heapIdx >= 0 {
			queued++
		}
	}
	if queued != len(s.q) {
		t.Fatalf("%d targets think they are queued, heap holds %d", queued, len(s.q))
	}
	var got []time.Time
	for len(s.q) > 0 {
		tg := s.q.remove(0)
		if tg.heapIdx != -1 {
			t.Fatalf("popped target keeps index %d", tg.heapIdx)
		}
		if !s.nextDue(tg).IsZero() {
			t.Fatalf("popped target still has a due time")
		}
		got = append(got, tg.due)
	}
	if len(got) != queued || !slices.IsSortedFunc(got, func(a, b time.Time) int { return a.Compare(b) }) {
		t.Fatalf("heap gave %d targets out of due order", len(got))
	}
}

// BenchmarkDueHeapCycle is what the scheduler does per probe on 20,000
// queued targets: take the earliest, queue it again one interval (plus
// jitter) later.
func BenchmarkDueHeapCycle(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := newScheduler(RealClock{}, 0, nil)
	base := time.Unix(1_700_000_000, 0)
	for range 20000 {
		s.add(&target{heapIdx: -1}, base.Add(time.Duration(rng.IntN(1000))*time.Millisecond))
	}
	b.ReportAllocs()
	for b.Loop() {
		t := s.q.remove(0)
		s.add(t, t.due.Add(time.Second+time.Duration(rng.IntN(100))*time.Millisecond))
	}
}

// With a dispatch window, one wakeup starts every probe due within the
// window, a little early; none starts late, and none starts more than the
// window early.
func TestSchedulerStartsTheNextWindowEarly(t *testing.T) {
	clock := fakeClock{fakeclock.New(t0)}
	type started struct {
		id int
		at time.Time
	}
	got := make(chan started, 16)
	ids := map[*target]int{}
	s := newScheduler(clock, 10*time.Millisecond, func(_ context.Context, tg *target) bool {
		got <- started{ids[tg], clock.Now()}
		return true
	})
	dues := []time.Duration{time.Millisecond, 5 * time.Millisecond, 12 * time.Millisecond, 30 * time.Millisecond}
	for i, d := range dues {
		tg := &target{heapIdx: -1}
		ids[tg] = i
		s.add(tg, t0.Add(d))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.run(ctx) }()
	defer func() { cancel(); <-done }()

	expect := func(step time.Duration, want ...int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); clock.Armed() == 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the scheduler does not wait on its timer")
			}
		}
		clock.Advance(step)
		for _, id := range want {
			select {
			case st := <-got:
				due := t0.Add(dues[st.id])
				if st.id != id || st.at.After(due) || due.Sub(st.at) > 10*time.Millisecond {
					t.Fatalf("started %d at +%s (due +%s), want %d, at most 10ms early and never late",
						st.id, st.at.Sub(t0), dues[st.id], id)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("probe %d not started", id)
			}
		}
		select {
		case st := <-got:
			t.Fatalf("probe %d started at +%s, before its window", st.id, st.at.Sub(t0))
		case <-time.After(20 * time.Millisecond):
		}
	}
	expect(time.Millisecond, 0, 1) // +1ms: due at 1 and 5 (window to +11ms)
	expect(11*time.Millisecond, 2) // +12ms: due at 12 (window to +22ms)
	expect(18*time.Millisecond, 3) // +30ms
}

// A probe that finished late is due again at once, so the scheduler can
// queue it behind the instance's running probe while the other probe
// already waits there. Neither may be lost: both run, in order.
func TestBothProbesCanWaitBehindARunningOne(t *testing.T) {
	a := New(Options{Store: NewStore(0), Clock: fakeClock{fakeclock.New(t0)}})
	c := upstreams.Cluster{Name: "c", Liveness: httpProbe("/livez", upstreams.DialectStatus),
		Readiness: httpProbe("/readyz", upstreams.DialectStatus),
		Instances: []upstreams.Instance{{ID: "i", Address: "127.0.0.1:1"}}}
	if err := a.Apply([]upstreams.Cluster{c}); err != nil {
		t.Fatal(err)
	}
	inst := a.clusters["c"].instances["i"]
	live, ready := inst.live, inst.ready
	if !a.acquire(live) {
		t.Fatal("an idle instance was not acquired")
	}
	if a.acquire(ready) || a.acquire(live) { // readiness waits, then liveness is due again
		t.Fatal("a busy instance was acquired")
	}
	name := func(tg *target) string {
		if tg == nil {
			return "nothing"
		}
		return string(tg.name)
	}
	if got := a.next(inst); got != ready {
		t.Fatalf("next: %s, want the readiness probe that waited first", name(got))
	}
	if got := a.next(inst); got != live {
		t.Fatalf("next: %s, want the liveness probe queued behind it", name(got))
	}
	if got := a.next(inst); got != nil {
		t.Fatalf("next: %s, want nothing", name(got))
	}
	inst.mu.Lock()
	busy := inst.busy
	inst.mu.Unlock()
	if busy {
		t.Fatal("instance still busy with nothing to run")
	}
}
