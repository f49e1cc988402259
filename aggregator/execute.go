package aggregator

import (
	"context"
	"fmt"
	"time"

	"github.com/vigilhq/vigil/aggregator/probe"
	"github.com/vigilhq/vigil/membership"
)

// lateAfter is how far behind schedule a probe may start before it counts as late.
const lateAfter = 100 * time.Millisecond

// workItem is a probe for a worker. held: the caller already marked the
// instance busy for it.
type workItem struct {
	t    *target
	held bool
}

// worker runs probes on the blocking path until the work channel closes.
func (a *Aggregator) worker() {
	defer a.workers.Done()
	var resp probe.Response
	scratch := &probe.Scratch{Buf: make([]byte, 0, 4096)}
	for w := range a.work {
		if w.held || a.acquire(w.t) {
			a.runHeld(w.t, &resp, scratch)
		}
		scratch.Trim()
	}
}

// dispatchBatch starts the probes one wakeup of the scheduler found due.
// The poller is woken once for all of them, once they are handed over.
func (a *Aggregator) dispatchBatch(ctx context.Context, batch []duePair) bool {
	if a.poller != nil {
		a.poller.Hold()
		defer a.poller.Release()
	}
	for _, d := range batch {
		if !a.dispatch(ctx, d.t, d.sib) {
			return false
		}
	}
	return true
}

// dispatch starts a due probe: on the poller when its connection is there,
// else on a worker. sib, the instance's other probe (only ever set for
// probes on the poller), goes along: in one write with t when it can,
// else queued right behind it. It is called by the scheduler's goroutine.
func (a *Aggregator) dispatch(ctx context.Context, t, sib *target) bool {
	if t.async == nil {
		return a.toWorker(ctx, workItem{t: t})
	}
	if !a.acquire(t) {
		if sib != nil {
			// Queued too, unless the instance went idle meanwhile (t ran
			// and finished already): then it runs now.
			return a.dispatch(ctx, sib, nil)
		}
		return true
	}
	if sib != nil {
		if a.startPair(t, sib) {
			return true
		}
		a.queueBehind(sib)
	}
	if a.startAsync(t) {
		return true
	}
	return a.toWorker(ctx, workItem{t: t, held: true})
}

// queueBehind queues t to run after the probe its instance is busy with.
func (a *Aggregator) queueBehind(t *target) {
	inst := t.inst
	inst.mu.Lock()
	inst.queued.push(t)
	inst.mu.Unlock()
}

func (a *Aggregator) toWorker(ctx context.Context, w workItem) bool {
	select {
	case a.work <- w:
		return true
	case <-ctx.Done():
		a.release(w.t.inst, w.held)
		return false
	}
}

// acquire marks t's instance busy for t. When a probe of the instance is
// running, t is queued behind it instead (probes of one instance never
// overlap: they share its connection), and acquire returns false.
func (a *Aggregator) acquire(t *target) bool {
	inst := t.inst
	inst.mu.Lock()
	defer inst.mu.Unlock()
	switch {
	case inst.removed:
		return false
	case inst.busy:
		inst.queued.push(t)
		return false
	}
	inst.busy = true
	return true
}

// runHeld runs t on the blocking path, then any probe of the instance that
// fell due meanwhile. The instance is busy for t.
func (a *Aggregator) runHeld(t *target, resp *probe.Response, scratch *probe.Scratch) {
	for t != nil {
		start := a.begin(t)
		*resp = probe.Response{}
		// Sockets live in real time, whatever clock schedules the probes.
		t.checker.Check(t.req, time.Now().Add(t.spec.Timeout), scratch, resp)
		a.finish(t, start, resp, false)
		if t = a.next(t.inst); t != nil && a.startAsync(t) {
			return
		}
	}
}

// startAsync starts t on the poller; false means it must block instead.
// The instance is busy for t.
func (a *Aggregator) startAsync(t *target) bool {
	if t.async == nil {
		return false
	}
	late := a.prepareFlight(t, a.clock.Now()) // before Start: once it runs, Done may requeue t
	if !t.async.Start(&t.flight) {
		return false
	}
	a.count(late)
	return true
}

// startPair starts t and sib, its instance's other probe, on the poller in
// one write; false means nothing started. The instance is busy for t; on
// success it stays busy until both finished.
func (a *Aggregator) startPair(t, sib *target) bool {
	inst := t.inst
	start := a.clock.Now()
	late := a.prepareFlight(t, start)
	sibLate := a.prepareFlight(sib, start)
	inst.mu.Lock()
	inst.pairOut = 2 // before Start: both may finish before it returns
	inst.mu.Unlock()
	if !t.async.StartPair(&t.flight, &sib.flight) {
		inst.mu.Lock()
		inst.pairOut = 0
		inst.mu.Unlock()
		return false
	}
	a.count(late)
	a.count(sibLate)
	return true
}

// prepareFlight readies t's flight to start now and reports whether that
// is late.
func (a *Aggregator) prepareFlight(t *target, start time.Time) (late bool) {
	t.flight.Req = t.req
	t.flight.Deadline = time.Now().Add(t.spec.Timeout)
	t.flightStart = start
	return a.late(t, start)
}

// flightDone finishes a probe the poller ran and starts the instance's
// next one, if any fell due meanwhile (once both probes of a pair are done).
func (a *Aggregator) flightDone(t *target) {
	a.finish(t, t.flightStart, &t.flight.Resp, true) // the poller commits after its round
	if a.pairStillOut(t.inst) {
		return
	}
	next := a.next(t.inst)
	if next == nil || a.startAsync(next) {
		return
	}
	w := workItem{t: next, held: true}
	select {
	case a.work <- w:
	default: // every worker busy: do not hold up the poller
		a.overflow.Add(1)
		go func() {
			defer a.overflow.Done()
			a.work <- w
		}()
	}
}

// pairStillOut counts one flight of a pipelined pair done and reports
// whether the other is still out (it then carries on the instance's busy
// mark).
func (a *Aggregator) pairStillOut(inst *instance) bool {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	if inst.pairOut == 0 {
		return false
	}
	inst.pairOut--
	return inst.pairOut > 0
}

// next returns the probe of inst queued behind the one that just finished,
// keeping the instance busy for it; or nil, leaving the instance idle.
// While stopping, queued probes are dropped.
func (a *Aggregator) next(inst *instance) *target {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	if t := inst.queued.pop(); t != nil && !inst.removed && !a.stopping.Load() {
		return t
	}
	inst.queued.clear()
	inst.busy = false
	if inst.removed {
		inst.closeCheckers()
	}
	return nil
}

// release gives up a busy mark taken for a probe that will not run.
func (a *Aggregator) release(inst *instance, held bool) {
	if !held {
		return
	}
	inst.mu.Lock()
	inst.busy = false
	inst.queued.clear()
	if inst.removed {
		inst.closeCheckers()
	}
	inst.mu.Unlock()
}

// completed counts a finished probe; with commitLater, only once the
// poller's round has committed (afterPollerRound), so that a probe counted
// complete has its result in the store.
func (a *Aggregator) completed(commitLater bool) {
	if commitLater {
		a.roundDone.Add(1)
		return
	}
	a.stats.done.Add(1)
}

// afterPollerRound commits what the poller's round enqueued, then counts
// its probes complete. It reports whether the store changed (subscribers
// were woken).
func (a *Aggregator) afterPollerRound() bool {
	n := a.roundDone.Swap(0) // each counted probe enqueued before it was counted
	wrote := a.commits.commit()
	a.stats.done.Add(n)
	return wrote
}

// begin counts a probe starting now and returns its start time.
func (a *Aggregator) begin(t *target) time.Time {
	start := a.clock.Now()
	a.count(a.late(t, start))
	return start
}

// late reports whether t starting at start is late. The instance is busy
// for t.
func (a *Aggregator) late(t *target, start time.Time) bool { return start.Sub(t.due) > lateAfter }

func (a *Aggregator) count(late bool) {
	a.stats.probes.Add(1)
	if late {
		a.stats.late.Add(1)
	}
}

// finish records one probe's response, steps the machine, publishes a
// transition if the status changed, and queues the next run. With
// commitLater a transition is only enqueued: the caller commits (the
// poller does once per round, so its transitions share store copies).
func (a *Aggregator) finish(t *target, start time.Time, resp *probe.Response, commitLater bool) {
	v := t.eval.Evaluate(resp)
	inst := t.inst
	if a.opts.Observer != nil {
		a.opts.Observer.ProbeDone(inst.cluster, t.name, v.Outcome, resp.Latency)
	}

	inst.mu.Lock()
	if inst.removed {
		inst.mu.Unlock()
		a.completed(commitLater)
		return
	}
	t.record(membership.ProbeResult{
		Time:       start,
		HTTPStatus: resp.StatusCode,
		LatencyMS:  float64(resp.Latency.Microseconds()) / 1000,
		Verdict:    v.Outcome,
		Reason:     v.Reason,
		Components: v.Components,
	})
	// Liveness is presumed fine until unhealthy_threshold failures (as a
	// Kubernetes failureThreshold applies from the start); readiness starts
	// not ready unless initial_status says healthy.
	presumed := t.name == membership.Liveness || inst.presumedHealthy()
	t.m.step(v.Outcome, uint32(t.spec.HealthyThreshold), uint32(t.spec.UnhealthyThreshold), presumed)
	now := a.clock.Now()
	a.expireOverrideLocked(inst, now)
	a.republishLocked(inst, now, commitLater, func() string {
		if t.m.phase == phaseDraining { // immediate: no count to speak of
			return fmt.Sprintf("%s: %s", t.name, v.Reason)
		}
		return fmt.Sprintf("%s: %s (%d in a row)", t.name, v.Reason, t.m.run())
	})
	if t.first {
		t.first = false
		a.firstResult()
	}
	next, lo, hi := t.nextDue(now, a.sched.grid)
	inst.mu.Unlock()
	a.sched.addNear(t, next, lo, hi)
	a.completed(commitLater)
}

// republishLocked recomputes inst's status and, when it changed, publishes
// the transition with the reason reason() builds. inst.mu is held.
func (a *Aggregator) republishLocked(inst *instance, now time.Time, commitLater bool, reason func() string) {
	live, ready := inst.machines()
	status := publishedStatus(live, ready, inst.spec.InitialStatus, inst.override.Active(now))
	if status == inst.status {
		return
	}
	from := inst.status
	inst.status, inst.since = status, now
	inst.reason = reason()
	if status == membership.StatusDraining && inst.override.Active(now) {
		inst.reason = "manual drain: " + inst.override.Reason
	}
	ev := membership.Event{Time: now, Kind: membership.EventTransition, From: from, To: status, Reason: inst.reason}
	if commitLater {
		a.enqueueMemberLocked(inst, ev)
	} else {
		a.publishMemberLocked(inst, ev)
	}
	a.opts.Logger.Info("status changed", "cluster", inst.cluster, "instance", inst.inst.ID,
		"from", from.String(), "to", status.String(), "reason", inst.reason)
}

// publishMemberLocked writes inst's member into the store with ev and
// returns once it is there. inst.mu is held.
func (a *Aggregator) publishMemberLocked(inst *instance, ev membership.Event) {
	a.enqueueMemberLocked(inst, ev)
	a.commits.commit()
}

// enqueueMemberLocked queues inst's member with ev for the next commit.
// inst.mu is held.
func (a *Aggregator) enqueueMemberLocked(inst *instance, ev membership.Event) {
	ev.Cluster, ev.Instance, ev.Address = inst.cluster, inst.inst.ID, inst.inst.Address
	a.commits.enqueue(inst.cluster, inst.member(), ev)
}

// expireOverrideLocked clears an override whose ttl has ended. inst.mu is held.
func (a *Aggregator) expireOverrideLocked(inst *instance, now time.Time) {
	if inst.override == nil || inst.override.Active(now) {
		return
	}
	o := inst.override
	inst.override = nil
	a.forgetOverride(inst)
	a.opts.Logger.Info("manual drain expired", "cluster", inst.cluster, "instance", inst.inst.ID, "reason", o.Reason)
	a.overrideChangedLocked(inst, now, "ttl", "manual drain expired: "+o.Reason)
}

// overrideChangedLocked republishes inst after its override changed,
// recording an override event even when the status stays. inst.mu is held.
func (a *Aggregator) overrideChangedLocked(inst *instance, now time.Time, by, why string) {
	live, ready := inst.machines()
	from := inst.status
	status := publishedStatus(live, ready, inst.spec.InitialStatus, inst.override.Active(now))
	if status != from {
		inst.status, inst.since = status, now
		inst.reason = why
	}
	a.publishMemberLocked(inst, membership.Event{Time: now, Kind: membership.EventOverride, From: from, To: status, Reason: why, By: by})
}

func (i *instance) presumedHealthy() bool { return i.spec.InitialStatus == "healthy" }

// closeCheckers releases the instance's connections once. inst.mu is held.
func (i *instance) closeCheckers() {
	for _, c := range i.checkers {
		c.Close()
	}
	i.checkers = nil
}
