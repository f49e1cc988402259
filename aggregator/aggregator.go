package aggregator

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilhq/vigil/aggregator/dialect"
	"github.com/vigilhq/vigil/aggregator/probe"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// Options configure an Aggregator.
type Options struct {
	Store          *membership.Store // where membership is published (required)
	Clock          Clock             // nil: the real clock
	MaxConcurrency int               // blocking probes at once: most workers (default 1024), started as needed; polled ones are not counted
	// DispatchWindow is how early a probe may start so that probes due
	// close together are dispatched by one wakeup (default 10ms).
	// Negative: none, every probe starts at its due time (for a test
	// whose fake clock must see exact start times).
	DispatchWindow time.Duration
	// DispatchGrid is the spacing of the instants that jittered probes
	// fall due at (default 50ms): a probe's jittered next run is rounded to
	// the nearest of the grid's instants within its interval-plus-jitter
	// range, so probes of many instances share a wakeup. Negative: no grid.
	DispatchGrid time.Duration
	// Jitter is the source of jitter draws (nil: one seeded at random). A
	// test passes a seeded one, so that its draws repeat.
	Jitter   rand.Source
	Logger   *slog.Logger // nil: slog.Default()
	Observer Observer     // nil: no metrics
	// Checkers tune probe connections (TLS roots, dial timeout).
	Checkers probe.CheckerOptions
	// BlockingProbes runs every probe on a worker goroutine that waits for
	// its answer, as on platforms without epoll. By default plain-HTTP
	// probes on kept connections go through a probe.Poller instead.
	BlockingProbes bool
	// FailSafe is when vigil suspects its own network (nil:
	// DefaultFailSafe); SetFailSafe changes it.
	FailSafe *FailSafe
	// Restore, when set, is asked at the first Apply for each instance's
	// last published member (a restart's kept verdicts). An instance it
	// answers starts from it, as if vigil had never stopped: its status,
	// reason and since, and each probe's machine in the member's phase with
	// its count at the threshold; it counts as done for FirstRound.
	Restore func(spec *upstreams.Cluster, in upstreams.Instance) (membership.Member, bool)
}

// DefaultDispatchWindow batches probe dispatch with the real clock: a
// wakeup starts every probe due in the next 10 ms (1% of a 1 s interval).
const DefaultDispatchWindow = 10 * time.Millisecond

// DefaultDispatchGrid lets a 1 s interval with 10% jitter run after 1.00,
// 1.05 or 1.10 s: a wakeup every 50 ms starts every probe due then.
const DefaultDispatchGrid = 50 * time.Millisecond

// Aggregator schedules probes of every instance, runs their state machines
// and publishes each instance's status into the Store.
//
//   - Apply(clusters) sets what to probe (first load and every reload);
//     unchanged instances keep their state and schedule.
//   - Run(ctx) probes until ctx ends, then closes every connection.
//   - FirstRound() is closed once every instance known at the first Apply
//     was restored (Options.Restore) or has a result from each of its
//     probes.
//   - Instance(cluster, id) returns probe details for the dashboard.
//   - SetOverride(cluster, id, o) holds an instance DRAINING (nil clears).
type Aggregator struct {
	opts    Options
	clock   Clock
	sched   *scheduler
	commits *committer
	factory *dialect.Factory
	poller  *probe.Poller // nil with BlockingProbes
	// checkerOpts are opts.Checkers with the poller.
	checkerOpts probe.CheckerOptions
	workers     *pool         // runs the probes that block
	skips       *skipLog      // probes skipped for vigil's own faults
	stopping    atomic.Bool   // Run is ending: no probe starts any more
	roundDone   atomic.Uint64 // probes the poller finished, not yet committed
	roundFirst  atomic.Int64  // of them, first results of first-Apply targets

	applyMu  sync.Mutex // serializes Apply
	mu       sync.RWMutex
	clusters map[string]*clusterState
	drained  map[*instance]struct{} // instances holding an override

	applied      bool
	firstPending atomic.Int64
	firstOnce    sync.Once
	firstDone    chan struct{}
	stats        struct{ probes, late, done atomic.Uint64 }

	guard *guard     // the fail-safe
	redo  *redoQueue // instances the ejection cap hands back, for the hold loop
}

type clusterState struct {
	spec      *upstreams.Cluster
	instances map[string]*instance
	ej        *ejector // max_ejection_percent; kept across reloads
}

// New returns an Aggregator. Call Apply, then Run.
func New(opts Options) *Aggregator {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxConcurrency <= 0 {
		opts.MaxConcurrency = 1024
	}
	if opts.Clock == nil {
		opts.Clock = RealClock{}
	}
	opts.DispatchWindow = orDefault(opts.DispatchWindow, DefaultDispatchWindow)
	opts.DispatchGrid = orDefault(opts.DispatchGrid, DefaultDispatchGrid)
	if opts.Store == nil {
		opts.Store = membership.NewStore(0)
	}
	a := &Aggregator{
		opts:        opts,
		clock:       opts.Clock,
		commits:     newCommitter(opts.Store),
		factory:     dialect.NewFactory(),
		checkerOpts: opts.Checkers,
		clusters:    make(map[string]*clusterState),
		drained:     make(map[*instance]struct{}),
		firstDone:   make(chan struct{}),
		redo:        newRedoQueue(),
	}
	fs := DefaultFailSafe
	if opts.FailSafe != nil {
		fs = *opts.FailSafe
	}
	a.guard = newGuard(fs, 0)
	if a.checkerOpts.TLSConfigs == nil {
		a.checkerOpts.TLSConfigs = probe.NewTLSConfigs() // a cluster's https instances share one parsed config
	}
	if !opts.BlockingProbes {
		a.poller = probe.NewPoller(opts.Logger, a.afterPollerRound)
		a.checkerOpts.Poller = a.poller
	}
	a.workers = newPool(opts.MaxConcurrency, a.runBlocking)
	a.skips = newSkipLog(opts.Logger)
	a.sched = newScheduler(opts.Clock, opts.DispatchWindow, opts.DispatchGrid, opts.Jitter, a.dispatchBatch)
	return a
}

// orDefault returns def for zero, 0 (off) for a negative d, else d.
func orDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// Store is where the aggregator publishes.
func (a *Aggregator) Store() *membership.Store { return a.opts.Store }

// Run probes until ctx is done, then waits for probes in flight and closes
// every connection.
func (a *Aggregator) Run(ctx context.Context) error {
	sweepDone, holdDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sweepDone)
		a.sweepOverrides(ctx)
	}()
	go func() {
		defer close(holdDone)
		a.holdLoop(ctx)
	}()
	a.sched.run(ctx)
	// Probes in flight finish (each within its timeout); none starts.
	a.stopping.Store(true)
	if a.poller != nil {
		a.poller.Close()
	}
	for _, t := range a.workers.close() {
		a.abandon(t)
	}
	<-sweepDone
	<-holdDone
	for _, inst := range a.allInstances() {
		inst.mu.Lock()
		inst.closeCheckers()
		inst.mu.Unlock()
	}
	return nil
}

// FirstRound is closed once every instance of the first Apply was
// restored (Options.Restore), has a result in the store from each of its
// probes, or has been removed.
func (a *Aggregator) FirstRound() <-chan struct{} { return a.firstDone }

// firstResults counts n targets of the first Apply done with: they have
// a result in the store, or were removed.
func (a *Aggregator) firstResults(n int64) {
	if n > 0 && a.firstPending.Add(-n) == 0 {
		a.firstOnce.Do(func() { close(a.firstDone) })
	}
}

// SchedulerStats counts probes started and those that started late.
type SchedulerStats struct {
	Probes    uint64 // probes started
	Late      uint64 // started more than 100 ms after their due time
	Completed uint64 // probes whose result was recorded and next run queued
}

// Stats returns scheduling counters.
func (a *Aggregator) Stats() SchedulerStats {
	return SchedulerStats{Probes: a.stats.probes.Load(), Late: a.stats.late.Load(), Completed: a.stats.done.Load()}
}

// allInstances lists every instance. Callers lock instances only after
// it returns (see the lock order in doc.go).
func (a *Aggregator) allInstances() []*instance {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var out []*instance
	for _, c := range a.clusters {
		for _, inst := range c.instances {
			out = append(out, inst)
		}
	}
	return out
}

func (a *Aggregator) lookup(cluster, id string) (*instance, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	c, ok := a.clusters[cluster]
	if !ok {
		return nil, fmt.Errorf("cluster %q: %w", cluster, membership.ErrNotFound)
	}
	inst, ok := c.instances[id]
	if !ok {
		return nil, fmt.Errorf("instance %q of cluster %q: %w", id, cluster, membership.ErrNotFound)
	}
	return inst, nil
}

// Instance returns the details of one instance.
func (a *Aggregator) Instance(cluster, id string) (membership.InstanceDetail, error) {
	inst, err := a.lookup(cluster, id)
	if err != nil {
		return membership.InstanceDetail{}, err
	}
	inst.mu.Lock()
	defer inst.mu.Unlock()
	d := membership.InstanceDetail{Member: inst.member()}
	if inst.live != nil {
		d.Liveness = inst.live.state(a.sched.nextDue(inst.live))
	}
	if inst.ready != nil {
		d.Readiness = inst.ready.state(a.sched.nextDue(inst.ready))
	}
	return d, nil
}

// SetOverride sets (o != nil) or clears (o == nil) a manual drain. It
// records an override event and republishes the instance's status.
func (a *Aggregator) SetOverride(cluster, id string, o *membership.Override) error {
	inst, err := a.lookup(cluster, id)
	if err != nil {
		return err
	}
	now := a.clock.Now()
	inst.mu.Lock()
	changed := a.setOverrideLocked(inst, o, now)
	inst.mu.Unlock()
	if changed {
		a.commits.commit()
	}
	return nil
}

// setOverrideLocked sets or clears inst's override and queues the change;
// false: there was nothing to clear. inst.mu is held.
func (a *Aggregator) setOverrideLocked(inst *instance, o *membership.Override, now time.Time) (changed bool) {
	if o != nil {
		oc := *o
		if oc.Since.IsZero() {
			oc.Since = now
		}
		if oc.By == "" {
			oc.By = "admin"
		}
		inst.override = &oc
		a.rememberOverride(inst)
		a.overrideChangedLocked(inst, now, oc.By, "manual drain: "+oc.Reason)
		return true
	}
	if inst.override == nil {
		return false
	}
	inst.override = nil
	a.forgetOverride(inst)
	a.overrideChangedLocked(inst, now, "admin", "manual drain cleared")
	return true
}

func (a *Aggregator) rememberOverride(inst *instance) {
	a.mu.Lock()
	a.drained[inst] = struct{}{}
	a.mu.Unlock()
}

func (a *Aggregator) forgetOverride(inst *instance) {
	a.mu.Lock()
	delete(a.drained, inst)
	a.mu.Unlock()
}

// sweepOverrides ends manual drains whose ttl ran out, once a second, so
// an expiry does not wait for the instance's next probe.
func (a *Aggregator) sweepOverrides(ctx context.Context) {
	timer := a.clock.NewTimer(time.Second)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C():
		}
		a.mu.RLock()
		insts := make([]*instance, 0, len(a.drained))
		for inst := range a.drained {
			insts = append(insts, inst)
		}
		a.mu.RUnlock()
		now := a.clock.Now()
		expired := false
		for _, inst := range insts {
			inst.mu.Lock()
			if !inst.run.retired && a.expireOverrideLocked(inst, now) {
				expired = true
			}
			inst.mu.Unlock()
		}
		if expired {
			a.commits.commit()
		}
		timer.ResetAt(a.clock.Now().Add(time.Second))
	}
}
