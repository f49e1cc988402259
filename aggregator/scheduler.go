package aggregator

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// scheduler keeps every queued probe in a min-heap by due time and hands
// due probes to a fixed pool of workers. No goroutine exists per probe or
// per instance; an idle instance costs a heap entry.
type scheduler struct {
	clock  Clock
	window time.Duration // how early a probe may start so that one wakeup serves many
	grid   time.Duration // jittered due times land on multiples of it (0: anywhere); see nextDue
	// dispatch starts the probes one wakeup found due, each with its
	// instance's other probe when that was taken out to go along. It does
	// not block.
	dispatch func(batch []duePair)
	mu       sync.Mutex
	q        dueHeap
	rng      *rand.Rand // jitter draws
	wake     chan struct{}
}

// newScheduler returns a scheduler drawing jitter from src (nil: a source
// seeded at random).
func newScheduler(clock Clock, window, grid time.Duration, src rand.Source, dispatch func([]duePair)) *scheduler {
	if src == nil {
		src = rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	return &scheduler{clock: clock, window: window, grid: grid, dispatch: dispatch, rng: rand.New(src), wake: make(chan struct{}, 1)}
}

// add queues t to run at due. Adding a queued target moves it.
func (s *scheduler) add(t *target, due time.Time) { s.addNear(t, due, due, due) }

// requeue queues t's next run after the run that ended now: see nextDue
// and addNear. t's instance's mu is held (t's machine sets its interval).
func (s *scheduler) requeue(t *target, now time.Time) {
	s.mu.Lock()
	u := t.jitterDraw
	if u == 0 {
		u = 1 - s.rng.Float64()
	}
	t.jitterDraw = 0
	due, lo, hi := t.nextDue(now, s.grid, u)
	head := s.addNearLocked(t, due, lo, hi)
	s.mu.Unlock()
	s.woken(head)
}

// skipAhead requeues t, whose run was skipped, at its next run on its own
// schedule: its due time moves on by whole periods to the last one not
// after now, so that a probe skipped for starting late is not due again at
// once. The instance's mu is held (t's machine says its period).
func (s *scheduler) skipAhead(t *target, now time.Time) {
	s.mu.Lock()
	if iv := t.m.interval(&t.spec.Timing); iv > 0 {
		if behind := now.Sub(t.due); behind >= iv {
			t.due = t.due.Add(behind / iv * iv)
		}
	}
	s.mu.Unlock()
	s.requeue(t, now)
}

// addNear queues t to run at due, or at the time within [lo, hi] nearest
// its queued sibling's next run, so that the two fall due together and go
// out in one write (see takeSiblingLocked). A sibling due before lo runs
// again about an interval later; that is the run t meets. Only the probe
// that leads (its sibling runs less than half an interval after it) moves,
// so the gap closes by up to the jitter span each round instead of both
// moving alike; a sibling on another rhythm is left alone.
func (s *scheduler) addNear(t *target, due, lo, hi time.Time) {
	s.mu.Lock()
	head := s.addNearLocked(t, due, lo, hi)
	s.mu.Unlock()
	s.woken(head)
}

// addNearLocked is addNear with s.mu held; it reports whether t is now
// the first due.
func (s *scheduler) addNearLocked(t *target, due, lo, hi time.Time) (head bool) {
	if sib := t.sibling; sib != nil && sib.heapIdx >= 0 {
		d := sib.due
		if d.Before(lo) {
			d = d.Add(t.spec.Interval)
		}
		switch {
		case d.Before(lo):
		case !d.After(hi):
			due = d
		case d.Sub(lo) <= t.spec.Interval/2: // at exactly half (a grid makes it common) one of the two must lead
			due = hi
		}
	}
	t.due, t.dueKey = due, due.UnixNano()
	if t.heapIdx >= 0 {
		s.q.fix(t.heapIdx)
	} else {
		s.q.push(t)
	}
	return s.q[0].t == t
}

// woken wakes the scheduler's loop when a target became the first due.
func (s *scheduler) woken(head bool) {
	if head {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// remove unqueues t if it is queued.
func (s *scheduler) remove(t *target) {
	s.mu.Lock()
	if t.heapIdx >= 0 {
		s.q.remove(t.heapIdx)
	}
	s.mu.Unlock()
}

// nextDue is when t is queued to run (zero when it is not queued).
func (s *scheduler) nextDue(t *target) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.heapIdx < 0 {
		return time.Time{}
	}
	return t.due
}

// run dispatches due probes until ctx ends.
func (s *scheduler) run(ctx context.Context) {
	timer := s.clock.NewTimer(time.Hour)
	defer timer.Stop()
	var batch []duePair
	for {
		now := s.clock.Now()
		s.mu.Lock()
		// Probes due within the window start now, a little early, so a
		// wakeup serves every probe of the next window and none starts late
		// for the sake of batching.
		for horizon := now.Add(s.window).UnixNano(); len(s.q) > 0 && s.q[0].key <= horizon; {
			t := s.q.remove(0)
			batch = append(batch, duePair{t, s.takeSiblingLocked(t)})
		}
		wake, idle := now.Add(time.Hour), len(s.q) == 0
		if !idle {
			wake = s.q[0].t.due
		}
		s.mu.Unlock()
		if len(batch) > 0 {
			s.dispatch(batch)
			clear(batch)
			batch = batch[:0]
		}
		if idle || wake.After(now) {
			timer.ResetAt(wake)
			select {
			case <-ctx.Done():
				return
			case <-timer.C():
			case <-s.wake:
			}
		}
	}
}

// duePair is a probe to start, with its instance's other probe when that
// goes along.
type duePair struct{ t, sib *target }

// takeSiblingLocked takes t's sibling (its instance's other probe, on the
// same connection) out of the queue when it falls due within its jitter
// span or the window after t: both then go out in one write. The sibling's
// schedule moves to t's, and both draw their next jitter together, so
// they stay together: never later than planned, and each probe's period
// stays within [interval, interval + jitter] with the same mean. s.mu is
// held.
func (s *scheduler) takeSiblingLocked(t *target) *target {
	sib := t.sibling
	if sib == nil || sib.heapIdx < 0 || sib.dueKey > t.dueKey+int64(max(s.window, sib.pairSpan)) {
		return nil
	}
	s.q.remove(sib.heapIdx)
	sib.due, sib.dueKey = t.due, t.dueKey
	u := 1 - s.rng.Float64() // (0, 1]: zero means no draw
	t.jitterDraw, sib.jitterDraw = u, u
	return sib
}

// nextDue is when t runs next: its interval after its due, lengthened by
// up to its jitter percent at random (u, the draw in (0, 1], shared with
// its sibling when they went out together), and not before now. With a grid, the draw
// is rounded to the nearest multiple of grid within that range, so that
// probes of many instances fall due at the same instants and one wakeup
// starts them all; the period stays within [interval, interval + jitter],
// with the same mean. A range holding fewer than two instants (jitter
// under the grid's spacing) is drawn from as a whole: the grid never
// removes the jitter. [lo, hi] is the span the interval and jitter allow
// from now on, within which the scheduler may move t to meet its sibling.
// The instance is busy for t.
func (t *target) nextDue(now time.Time, grid time.Duration, u float64) (due, lo, hi time.Time) {
	iv := t.m.interval(&t.spec.Timing)
	span := jitterSpan(iv, t.spec.JitterPercent)
	lo = latest(t.due.Add(iv), now)
	hi = lo.Add(span)
	due = latest(t.due.Add(iv+time.Duration(u*float64(span))), now)
	if first, last, ok := gridPoints(lo, hi, grid); ok {
		// Rounded to the nearest instant, the two ends get half the
		// share of the instants between them: periods spread less than
		// the draw itself, so detection's tail gets no longer.
		steps := last.Sub(first) / grid // a count, as are i and the quotient below
		i := min(max((due.Sub(first)+grid/2)/grid, 0), steps)
		return first.Add(i * grid), first, last
	}
	return due, lo, hi
}

// gridPoints returns the first and last multiples of grid (counted from
// the Unix epoch, so every target shares them) within [lo, hi]; ok is false
// when there are fewer than two, or no grid.
func gridPoints(lo, hi time.Time, grid time.Duration) (first, last time.Time, ok bool) {
	if grid <= 0 {
		return lo, hi, false
	}
	g := int64(grid)
	up := (g - lo.UnixNano()%g) % g // lo to the next multiple; Add keeps the monotonic reading
	first = lo.Add(time.Duration(up))
	last = hi.Add(-time.Duration(hi.UnixNano() % g))
	return first, last, last.After(first)
}

// jitterSpan is percent of d: how much jitter may lengthen it.
func jitterSpan(d time.Duration, percent int) time.Duration {
	if percent <= 0 || d <= 0 {
		return 0
	}
	return d * time.Duration(percent) / 100
}

func latest(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

// dueHeap is a 4-ary min-heap of targets by due time, written out rather
// than through container/heap: the scheduler sifts on every probe. Each
// entry holds its key, so a sift compares within the array instead of
// loading every target it passes; four children per node halve the depth,
// and a sift moves a hole instead of swapping, so each level writes one
// entry and one target index.
type dueHeap []dueEntry

type dueEntry struct {
	key int64 // the target's dueKey
	t   *target
}

const dueArity = 4

func (h dueHeap) place(i int, e dueEntry) {
	h[i] = e
	e.t.heapIdx = i
}

func (h *dueHeap) push(t *target) {
	*h = append(*h, dueEntry{})
	h.up(len(*h)-1, dueEntry{key: t.dueKey, t: t})
}

// remove takes out the target at index i and returns it.
func (h *dueHeap) remove(i int) *target {
	old := *h
	last := len(old) - 1
	t := old[i].t
	moved := old[last]
	old[last] = dueEntry{}
	*h = old[:last]
	if i != last {
		h.settle(i, moved)
	}
	t.heapIdx = -1
	return t
}

// fix restores the order after the target at i changed its due time.
func (h dueHeap) fix(i int) {
	e := h[i]
	e.key = e.t.dueKey
	h.settle(i, e)
}

// settle puts e at i or wherever the order sends it from there.
func (h dueHeap) settle(i int, e dueEntry) {
	if i > 0 && e.key < h[(i-1)/dueArity].key {
		h.up(i, e)
	} else {
		h.down(i, e)
	}
}

// up moves the hole at i toward the root until e fits, then places e.
func (h dueHeap) up(i int, e dueEntry) {
	for i > 0 {
		parent := (i - 1) / dueArity
		if e.key >= h[parent].key {
			break
		}
		h.place(i, h[parent])
		i = parent
	}
	h.place(i, e)
}

// down moves the hole at i toward the leaves until e fits, then places e.
func (h dueHeap) down(i int, e dueEntry) {
	n := len(h)
	for {
		first := dueArity*i + 1
		if first >= n || first < 0 {
			break
		}
		least := first
		for c := first + 1; c < first+dueArity && c < n; c++ {
			if h[c].key < h[least].key {
				least = c
			}
		}
		if h[least].key >= e.key {
			break
		}
		h.place(i, h[least])
		i = least
	}
	h.place(i, e)
}
