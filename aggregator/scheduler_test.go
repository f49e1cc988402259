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
	s := newScheduler(RealClock{}, 0, 0, rand.NewPCG(1, 1), nil)
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
	s := newScheduler(RealClock{}, 0, 0, rand.NewPCG(1, 1), nil)
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
	s := newScheduler(clock, 10*time.Millisecond, 0, rand.NewPCG(1, 1), func(batch []duePair) {
		for _, d := range batch {
			got <- started{ids[d.t], clock.Now()}
		}
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

// siblings returns an instance's two probes, paired as apply pairs them
// (interval 1s, jitter 10%: a span of 100ms).
func siblings() (a, b *target) {
	spec := &upstreams.Probe{Timing: upstreams.Timing{Interval: time.Second, JitterPercent: 10}}
	a, b = &target{heapIdx: -1, spec: spec}, &target{heapIdx: -1, spec: spec}
	a.sibling, b.sibling = b, a
	a.pairSpan, b.pairSpan = 100*time.Millisecond, 100*time.Millisecond
	return a, b
}

// A probe's sibling due within its jitter span goes along, its schedule
// moved to the probe's, and both draw one jitter; one due later stays.
func TestSchedulerTakesTheSiblingDueWithinItsSpan(t *testing.T) {
	s := newScheduler(RealClock{}, 10*time.Millisecond, 0, rand.NewPCG(1, 1), nil)
	a, b := siblings()
	s.add(a, t0)
	s.add(b, t0.Add(80*time.Millisecond))
	s.mu.Lock()
	first := s.q.remove(0)
	sib := s.takeSiblingLocked(first)
	s.mu.Unlock()
	if first != a || sib != b || b.heapIdx != -1 || len(s.q) != 0 {
		t.Fatalf("took %p with %p, heap %d: want a with b", first, sib, len(s.q))
	}
	if !b.due.Equal(t0) || b.dueKey != t0.UnixNano() || a.jitterDraw == 0 || a.jitterDraw != b.jitterDraw {
		t.Fatalf("b due %s, draws %v %v: want b moved to a's due and one shared draw", b.due.Sub(t0), a.jitterDraw, b.jitterDraw)
	}

	c, d := siblings()
	s.add(c, t0)
	s.add(d, t0.Add(150*time.Millisecond))
	s.mu.Lock()
	first = s.q.remove(0)
	sib = s.takeSiblingLocked(first)
	s.mu.Unlock()
	if first != c || sib != nil || d.heapIdx < 0 {
		t.Fatalf("a sibling due 150ms later (span 100ms) was taken along")
	}
}

// addNear moves the probe that leads to meet its sibling's next run, within
// what its interval and jitter allow; the probe that follows stays.
func TestSchedulerMovesTheLeadingProbeToItsSibling(t *testing.T) {
	iv, span := time.Second, 100*time.Millisecond
	cases := []struct {
		name    string
		sibDue  time.Duration // the queued sibling's due, from t0
		due     time.Duration // t's own pick, from t0; t's span is [iv, iv+span]
		wantDue time.Duration
	}{
		{"sibling within the span: meet it", iv + 40*time.Millisecond, iv + 90*time.Millisecond, iv + 40*time.Millisecond},
		{"sibling's run after the queued one is within the span", 30 * time.Millisecond, iv + 90*time.Millisecond, iv + 30*time.Millisecond},
		{"sibling a little later: as late as allowed", iv + 300*time.Millisecond, iv + 20*time.Millisecond, iv + span},
		{"sibling leads (runs again before t's span): t stays", iv - 300*time.Millisecond, iv + 20*time.Millisecond, iv + 20*time.Millisecond},
		{"sibling more than half an interval later: it leads, t stays", iv + 700*time.Millisecond, iv + 20*time.Millisecond, iv + 20*time.Millisecond},
		{"sibling exactly half an interval later: t leads", iv + 500*time.Millisecond, iv + 20*time.Millisecond, iv + span},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScheduler(RealClock{}, 10*time.Millisecond, 0, rand.NewPCG(1, 1), nil)
			a, b := siblings()
			s.add(b, t0.Add(tc.sibDue))
			s.addNear(a, t0.Add(tc.due), t0.Add(iv), t0.Add(iv+span))
			if got := s.nextDue(a).Sub(t0); got != tc.wantDue {
				t.Fatalf("t due at +%s, want +%s", got, tc.wantDue)
			}
		})
	}
}

// Two siblings that start far apart (a slow first round) come together
// within twenty intervals and then stay together, each still running once
// per interval plus jitter, with or without a dispatch grid. The jitter
// draws are seeded, so every run of this test sees the same trials. (Over
// 20,000 trials of other seeds the slowest took 38 rounds without a grid
// and 35 with one, so the bound is tight: unseeded, one run met a trial
// that took 41. With a grid, gaps of exactly half an interval are common,
// and before ties had a leader some took 62.)
func TestSiblingsConverge(t *testing.T) {
	for _, grid := range []time.Duration{0, 50 * time.Millisecond} {
		t.Run("grid="+grid.String(), func(t *testing.T) { siblingsConverge(t, grid, 40) })
	}
}

// siblingsConverge runs 200 trials; maxRounds counts two rounds per interval while apart.
func siblingsConverge(t *testing.T, grid time.Duration, maxRounds int) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 200 {
		s := newScheduler(RealClock{}, 10*time.Millisecond, grid, rand.NewPCG(5, uint64(trial)), nil)
		a, b := siblings()
		gap := time.Duration(rng.Int64N(int64(time.Second)))
		s.add(a, t0)
		s.add(b, t0.Add(gap))
		together := -1
		for round := 0; round < maxRounds+20; round++ {
			s.mu.Lock()
			first := s.q.remove(0)
			sib := s.takeSiblingLocked(first)
			s.mu.Unlock()
			ran := []*target{first}
			if sib != nil {
				ran = append(ran, sib)
				if together < 0 {
					together = round
				}
			} else if together >= 0 {
				t.Fatalf("trial %d: siblings together at round %d came apart at %d", trial, together, round)
			}
			for _, tg := range ran {
				prev := tg.due
				s.requeue(tg, prev)
				if p := s.nextDue(tg).Sub(prev); p < time.Second || p > 1100*time.Millisecond {
					t.Fatalf("trial %d round %d: period %s outside [1s, 1.1s]", trial, round, p)
				}
			}
		}
		// The gap, at most half an interval either way, closes by the
		// leader's full span less the follower's jitter: 50ms a cycle on average.
		if together < 0 || together > maxRounds {
			t.Fatalf("trial %d: siblings %s apart first went together at round %d", trial, gap, together)
		}
	}
}

// With a grid, a probe's next run lands on a multiple of the grid within
// [interval, interval + jitter] after its last due, every such instant is
// drawn (the two ends half as often), and the mean period stays
// interval + jitter/2. A jitter under the
// grid's spacing is drawn as before: the grid does not take it away.
func TestGridKeepsThePeriodWithinIntervalAndJitter(t *testing.T) {
	const grid = 50 * time.Millisecond
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct {
		jitter   int
		instants int // grid instants in [1s, 1s + jitter] from an on-grid due
	}{{10, 3}, {25, 6}} {
		spec := &upstreams.Probe{Timing: upstreams.Timing{Interval: time.Second, JitterPercent: tc.jitter}}
		tg := &target{heapIdx: -1, spec: spec}
		span := jitterSpan(time.Second, tc.jitter)
		tg.due = t0.Add(13 * time.Millisecond) // off the grid at first
		seen := map[time.Duration]int{}
		var sum time.Duration
		const runs = 3000
		for i := range runs {
			prev := tg.due
			due, lo, hi := tg.nextDue(prev, grid, 1-rng.Float64())
			if due.UnixNano()%int64(grid) != 0 {
				t.Fatalf("jitter %d%%: due %s is off the %s grid", tc.jitter, due.Format(time.StampNano), grid)
			}
			if lo.After(due) || due.After(hi) || lo.UnixNano()%int64(grid) != 0 || hi.UnixNano()%int64(grid) != 0 {
				t.Fatalf("jitter %d%%: range [%s, %s] around %s", tc.jitter, lo, hi, due)
			}
			p := due.Sub(prev)
			if p < time.Second || p > time.Second+span {
				t.Fatalf("jitter %d%%: period %s outside [1s, %s]", tc.jitter, p, time.Second+span)
			}
			if i > 0 {
				seen[p]++
				sum += p
			}
			tg.due = due
		}
		if len(seen) != tc.instants {
			t.Fatalf("jitter %d%%: periods drawn %v, want %d distinct", tc.jitter, seen, tc.instants)
		}
		// The draw rounds to the nearest instant: each end gets half the
		// share of an instant between them (no heavier tail than without).
		inner := float64(runs-1) / float64(tc.instants-1)
		for _, end := range []time.Duration{time.Second, time.Second + span} {
			if share := float64(seen[end]) / inner; share < 0.3 || share > 0.7 { // about 6 standard deviations; 1.0 if drawn uniformly among instants
				t.Fatalf("jitter %d%%: period %s drawn %d times, %.2f of an inner instant's share, want 0.5", tc.jitter, end, seen[end], share)
			}
		}
		mean := sum / (runs - 1)
		if want := time.Second + span/2; mean < want-5*time.Millisecond || mean > want+5*time.Millisecond {
			t.Fatalf("jitter %d%%: mean period %s, want %s", tc.jitter, mean, want)
		}
	}
	spec := &upstreams.Probe{Timing: upstreams.Timing{Interval: time.Second, JitterPercent: 2}}
	tg := &target{heapIdx: -1, spec: spec, due: t0.Add(13 * time.Millisecond)}
	seen := map[time.Duration]int{}
	for range 100 {
		due, _, _ := tg.nextDue(tg.due, grid, 1-rng.Float64())
		p := due.Sub(tg.due)
		if p < time.Second || p > 1020*time.Millisecond {
			t.Fatalf("jitter 2%%: period %s outside [1s, 1.02s]", p)
		}
		seen[p]++
		tg.due = due
	}
	if len(seen) < 50 {
		t.Fatalf("jitter 2%%: %d distinct periods in 100 runs: the grid took the jitter away", len(seen))
	}
}
