package aggregator

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
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
