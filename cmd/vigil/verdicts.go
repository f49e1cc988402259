package main

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
	"github.com/vigilhq/vigil/verdicts"
)

// restart is what a start restores of the verdicts the last run published
// (state_dir/verdicts.db), and the writer that keeps them for the next.
type restart struct {
	file     *verdicts.File
	restored *verdicts.Restored // nil: nothing to restore
	writer   *verdicts.Writer
	hits     atomic.Int64 // instances that started from a restored verdict
	asked    atomic.Int64 // instances looked up
}

// openRestart opens the verdict file. It never fails: without a usable
// file nothing is restored or kept, and vigil starts as it always did.
func openRestart(cfg *config.Config, store *membership.Store, log *slog.Logger) *restart {
	f := verdicts.Open(stateDir(cfg), verdicts.Options{MaxAge: cfg.RestoreMaxAge, Logger: log})
	return &restart{file: f, restored: f.Restored(), writer: verdicts.NewWriter(store, f, verdicts.WriterOptions{})}
}

// lookup is the aggregator's restore hook: the member an instance of the
// first Apply starts as.
func (r *restart) lookup(spec *upstreams.Cluster, in upstreams.Instance) (membership.Member, bool) {
	r.asked.Add(1)
	m, ok := r.restored.Lookup(spec, in)
	if ok {
		r.hits.Add(1)
	}
	return m, ok
}

// seeds are the instances of a cluster discovered from Consul, as last
// published, until discovery's first answer replaces them: without them a
// restart would publish the cluster empty for a moment.
func (r *restart) seeds(spec *upstreams.Cluster) []upstreams.Instance {
	return r.restored.Instances(spec)
}

// logRestored says how the first Apply started.
func (r *restart) logRestored(log *slog.Logger) {
	if r.restored == nil {
		return
	}
	log.Info("verdicts: instances started from their last published verdict", "restored", r.hits.Load(),
		"instances", r.asked.Load(), "confirmed_at", r.restored.ConfirmedAt())
}

// register exports the writer's counters.
func (r *restart) register(reg prometheus.Registerer) {
	reg.MustRegister(
		counterFunc("vigil_verdict_writes_total", "Transactions that wrote changed verdicts to state_dir/verdicts.db.",
			func() uint64 { return r.writer.Stats().Writes }),
		counterFunc("vigil_verdict_records_written_total", "Instance verdicts written to state_dir/verdicts.db.",
			func() uint64 { return r.writer.Stats().Puts }),
		counterFunc("vigil_verdict_write_failures_total",
			"Transactions on state_dir/verdicts.db that failed (vigil keeps running; the verdicts are retried).",
			func() uint64 { return r.writer.Stats().Failures }),
	)
}

// counterFunc is a counter read from fn at each scrape.
func counterFunc(name, help string, fn func() uint64) prometheus.CounterFunc {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(fn()) })
}

// firstRoundBound is how long publishing waits for the first probe round
// at most: first probes are spread over one interval and each ends within
// its timeout, so a round that takes three times that is stuck, and
// waiting longer would leave clients without any answer.
func firstRoundBound(cfg *config.Config) time.Duration {
	longest := time.Duration(0)
	for _, c := range upstreams.FromConfig(cfg) {
		for _, p := range []*upstreams.Probe{c.Liveness, c.Readiness} {
			if p != nil {
				longest = max(longest, p.Interval+p.Timeout)
			}
		}
	}
	return max(3*longest, 10*time.Second)
}

// waitFirstRound waits for the aggregator's first round (at once when
// every instance was restored), or bound with a warning; it reports false
// when ctx ended first.
func waitFirstRound(ctx context.Context, first <-chan struct{}, bound time.Duration, log *slog.Logger) bool {
	timer := time.NewTimer(bound)
	defer timer.Stop()
	select {
	case <-first:
	case <-ctx.Done():
		return false
	case <-timer.C:
		log.Warn("the first probe round is not done: publishing anyway; instances without a verdict show initial_status",
			"waited", bound.String())
	}
	return true
}
