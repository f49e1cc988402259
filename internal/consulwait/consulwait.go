// Package consulwait holds the waiting that every loop talking to Consul
// does: following a blocking query's index, backing off after failures, and
// sleeping until a context ends.
package consulwait

import (
	"context"
	"math/rand/v2"
	"time"
)

// NextIndex is the WaitIndex of the query after one that answered got,
// when the previous query waited on prev. It follows Consul's advice on
// blocking queries: start over when the index goes backwards (a snapshot
// restore, a new leader with older state) and never wait on index 0,
// which would return at once and turn a watch into a busy loop.
func NextIndex(prev, got uint64) uint64 {
	switch {
	case got < prev:
		return 0
	case got == 0:
		return 1
	}
	return got
}

// Backoff grows a retry delay from Min to Max, doubling after each
// failure, with jitter so that many processes retrying the same Consul
// agent spread out. The zero Backoff is not useful: set Min and Max.
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// Next returns the delay before the next try: between half and all of
// the current step.
func (b *Backoff) Next() time.Duration {
	if b.cur == 0 {
		b.cur = b.Min
	} else {
		b.cur = min(2*b.cur, b.Max)
	}
	if b.cur <= 0 {
		return 0
	}
	return b.cur/2 + rand.N(b.cur/2+1)
}

// Reset starts the delays over at Min, after a success.
func (b *Backoff) Reset() { b.cur = 0 }

// Sleep waits d or until ctx ends; it reports whether ctx is still live.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
