package aggregator

import "time"

// Clock is the time source of the scheduler, injectable for tests.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once after d.
	NewTimer(d time.Duration) Timer
}

// Timer is a resettable one-shot timer.
type Timer interface {
	C() <-chan time.Time
	// ResetAt re-arms the timer to fire at t (at once if t is past). An
	// absolute time leaves no gap between reading the clock and arming.
	ResetAt(t time.Time)
	Stop()
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// NewTimer returns a time.Timer.
func (RealClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }
func (r realTimer) ResetAt(t time.Time) {
	r.t.Stop()
	select { // drop a stale fire so C only delivers the new deadline
	case <-r.t.C:
	default:
	}
	r.t.Reset(time.Until(t))
}
func (r realTimer) Stop() { r.t.Stop() }
