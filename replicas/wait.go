package replicas

import (
	"context"
	"log/slog"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/internal/consulwait"
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
	if wait := minQueryGap - time.Since(b.last); wait > 0 && !consulwait.Sleep(ctx, wait) {
		return nil, false
	}
	b.last = time.Now()
	q := &consulapi.QueryOptions{WaitIndex: b.index, WaitTime: blockingWait}
	return q.WithContext(ctx), true
}

// seen records the index a query answered with.
func (b *blocking) seen(index uint64) {
	b.index = consulwait.NextIndex(b.index, index)
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
	bo := &consulwait.Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}
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
			consulwait.Sleep(ctx, bo.Next())
			continue
		}
		if failing {
			w.log.Info("reading " + w.what + " in Consul again")
		}
		failing = false
		bo.Reset()
		if meta.LastIndex < last && w.reset != nil {
			w.reset()
		}
		last = meta.LastIndex
		b.seen(meta.LastIndex)
		got(pairs)
	}
}
