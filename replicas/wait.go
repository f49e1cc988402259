package replicas

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// blockingWait is how long one blocking query waits: below common 30 s
// idle timeouts of proxies in front of Consul.
const blockingWait = 25 * time.Second

// minQueryGap spaces a watch's queries, so an index that keeps changing
// (or misbehaves) never turns a watch into a busy loop.
const minQueryGap = 50 * time.Millisecond

// blocking tracks the index of a Consul blocking query, following
// Consul's advice: reset when the index goes backwards, never wait on 0.
type blocking struct {
	index uint64
	last  time.Time
}

// options returns the query options of the next query, after pacing it.
func (b *blocking) options(ctx context.Context) (*consulapi.QueryOptions, bool) {
	if wait := minQueryGap - time.Since(b.last); wait > 0 && !sleep(ctx, wait) {
		return nil, false
	}
	b.last = time.Now()
	q := &consulapi.QueryOptions{WaitIndex: b.index, WaitTime: blockingWait}
	return q.WithContext(ctx), true
}

// seen records the index a query answered with.
func (b *blocking) seen(index uint64) {
	switch {
	case index < b.index:
		b.index = 0
	case index == 0:
		b.index = 1
	default:
		b.index = index
	}
}

// backoff grows a retry delay from min to max, with jitter.
type backoff struct {
	min, max, cur time.Duration
}

func newBackoff(lo, hi time.Duration) *backoff { return &backoff{min: lo, max: hi} }

// next returns the delay before the next try.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur/2 + rand.N(b.cur/2+1)
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// prefixWatch follows a KV prefix with blocking queries.
type prefixWatch struct {
	kv     *consulapi.KV
	prefix string
	log    *slog.Logger
	what   string // for the logs: "the replica registry", "drains"
	// failed is called after each failed query (optional).
	failed func(err error)
	// reset is called when the index went backwards: Consul lost its state
	// (an agent or cluster started again empty) or reaped tombstones
	// (optional). got follows with what Consul holds now.
	reset func()
}

// run calls got with every answer until ctx ends. Failures are retried
// with backoff and logged once per outage.
func (w prefixWatch) run(ctx context.Context, got func(consulapi.KVPairs)) {
	var b blocking
	bo := newBackoff(200*time.Millisecond, 5*time.Second)
	failing := false
	var last uint64 // the last index answered, kept across failures
	for {
		q, ok := b.options(ctx)
		if !ok {
			return
		}
		pairs, meta, err := w.kv.List(w.prefix, q)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				w.log.Warn("cannot read "+w.what+" in Consul; retrying", "prefix", w.prefix, "error", err)
			}
			failing = true
			// The next query does not block: after an outage it answers at
			// once, with what Consul holds then.
			b.index = 0
			if w.failed != nil {
				w.failed(err)
			}
			sleep(ctx, bo.next())
			continue
		}
		if failing {
			w.log.Info("reading " + w.what + " in Consul again")
		}
		failing = false
		bo.reset()
		if meta.LastIndex < last && w.reset != nil {
			w.reset()
		}
		last = meta.LastIndex
		b.seen(meta.LastIndex)
		got(pairs)
	}
}
