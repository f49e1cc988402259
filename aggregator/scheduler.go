package aggregator

import (
	"container/heap"
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
	window time.Duration // how long due probes may gather before a wakeup
	mu     sync.Mutex
	q      dueHeap
	wake   chan struct{}
	work   chan *target
}

func newScheduler(clock Clock, workers int, window time.Duration) *scheduler {
	return &scheduler{clock: clock, window: window, wake: make(chan struct{}, 1), work: make(chan *target, workers)}
}

// add queues t to run at due. Adding a queued target moves it.
func (s *scheduler) add(t *target, due time.Time) {
	s.mu.Lock()
	t.due = due
	if t.heapIdx >= 0 {
		heap.Fix(&s.q, t.heapIdx)
	} else {
		heap.Push(&s.q, t)
	}
	head := s.q[0] == t
	s.mu.Unlock()
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
		heap.Remove(&s.q, t.heapIdx)
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

// run dispatches due probes until ctx ends, then closes the work channel.
func (s *scheduler) run(ctx context.Context) {
	defer close(s.work)
	timer := s.clock.NewTimer(time.Hour)
	defer timer.Stop()
	var batch []*target
	for {
		now := s.clock.Now()
		s.mu.Lock()
		for len(s.q) > 0 && !s.q[0].due.After(now) {
			batch = append(batch, heap.Pop(&s.q).(*target))
		}
		wake, idle := now.Add(time.Hour), len(s.q) == 0
		if !idle {
			// Sleeping until window after the earliest due time lets the
			// probes due meanwhile share one wakeup.
			wake = s.q[0].due.Add(s.window)
		}
		s.mu.Unlock()
		for i, t := range batch {
			select {
			case s.work <- t:
			case <-ctx.Done():
				return
			}
			batch[i] = nil
		}
		batch = batch[:0]
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

// jittered lengthens d by up to percent of it, at random.
func jittered(d time.Duration, percent int) time.Duration {
	if percent <= 0 || d <= 0 {
		return d
	}
	return d + time.Duration(rand.Int64N(int64(d)*int64(percent)/100+1))
}

// dueHeap orders targets by due time.
type dueHeap []*target

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}
func (h *dueHeap) Push(x any) {
	t := x.(*target)
	t.heapIdx = len(*h)
	*h = append(*h, t)
}
func (h *dueHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.heapIdx = -1
	*h = old[:len(old)-1]
	return t
}
