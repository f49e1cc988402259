// Package fakeclock is a manually advanced clock for tests of time-driven
// code (the probe scheduler) without sleeps.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a fake time source. Time moves only when Advance is called.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*Timer]struct{}
}

// New returns a clock reading start.
func New(start time.Time) *Clock { return &Clock{now: start, timers: map[*Timer]struct{}{}} }

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Timer fires when the clock is advanced past its deadline.
type Timer struct {
	c        *Clock
	ch       chan time.Time
	deadline time.Time
	armed    bool
}

// NewTimer returns a timer firing d after the current fake time.
func (c *Clock) NewTimer(d time.Duration) *Timer { return c.newTimer(c.Now().Add(d)) }

func (c *Clock) newTimer(deadline time.Time) *Timer {
	t := &Timer{c: c, ch: make(chan time.Time, 1)}
	t.ResetAt(deadline)
	return t
}

// C delivers the fire time.
func (t *Timer) C() <-chan time.Time { return t.ch }

// ResetAt re-arms the timer.
func (t *Timer) ResetAt(deadline time.Time) {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	select {
	case <-t.ch:
	default:
	}
	t.deadline, t.armed = deadline, true
	t.c.timers[t] = struct{}{}
	t.c.fireLocked()
}

// Stop disarms the timer.
func (t *Timer) Stop() {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.armed = false
	delete(t.c.timers, t)
}

// Advance moves time forward by d and fires every timer now due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.fireLocked()
}

func (c *Clock) fireLocked() {
	for t := range c.timers {
		if t.armed && !t.deadline.After(c.now) {
			t.armed = false
			delete(c.timers, t)
			select {
			case t.ch <- c.now:
			default:
			}
		}
	}
}

// Armed reports how many timers wait to fire.
func (c *Clock) Armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}
