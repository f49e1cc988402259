package aggregator

import (
	"time"

	"github.com/vigilhq/vigil/aggregator/dialect"
	"github.com/vigilhq/vigil/aggregator/probe"
	"github.com/vigilhq/vigil/membership"
)

// lateAfter is how far behind schedule a probe may start before it counts as late.
const lateAfter = 100 * time.Millisecond

// dispatchBatch starts the probes one wakeup of the scheduler found due.
// The poller is woken once for all of them, once they are handed over.
func (a *Aggregator) dispatchBatch(batch []duePair) {
	if a.poller != nil {
		a.poller.Hold()
		defer a.poller.Release()
	}
	for _, d := range batch {
		a.dispatch(d.t, d.sib)
	}
}

// dispatch starts t, due, and sib with it when it was taken along (both
// in one write when they can), or queues them behind the probe their
// instance has out.
func (a *Aggregator) dispatch(t, sib *target) {
	inst := t.inst
	inst.mu.Lock()
	var run bool
	if sib == nil {
		run = inst.run.due(t)
	} else {
		run = inst.run.duePair(t, sib)
	}
	inst.mu.Unlock()
	if !run {
		return
	}
	if sib != nil {
		if a.startPair(t, sib) || a.submitPair(t, sib) {
			return
		}
		inst.mu.Lock()
		inst.run.unpaired(sib)
		inst.mu.Unlock()
	}
	a.start(t)
}

// start runs t, for which its instance is busy: on the poller when its
// connection is there, else on a worker.
func (a *Aggregator) start(t *target) {
	if a.startAsync(t) || a.workers.submit(t) {
		return
	}
	a.abandon(t) // Run is ending
}

// abandon ends t's turn without running it: Run is ending.
func (a *Aggregator) abandon(t *target) {
	inst := t.inst
	inst.mu.Lock()
	if _, closeNow := inst.run.done(true); closeNow {
		inst.closeCheckers()
	}
	inst.mu.Unlock()
}

// submitPair hands t and sib, an instance's two probes on short-lived
// connections (the fd budget has no kept slot for their address), to a
// worker that sends both in one write on one connection
// (probe.PairChecker): one connection per pair instead of two. Probes
// whose timeouts differ go one at a time instead. The instance is busy
// for both.
func (a *Aggregator) submitPair(t, sib *target) bool {
	pc, ok := t.checker.(probe.PairChecker)
	if !ok || !pc.ShortLived() || t.spec.Timeout != sib.spec.Timeout {
		return false
	}
	t.pairedWith = sib
	if a.workers.submit(t) {
		return true
	}
	t.pairedWith = nil
	return false
}

// runBlocking runs t on a worker (with its sibling, when submitPair
// paired them), then any probe of its instance that fell due meanwhile
// (on the poller when it can). A probe that waited more than its period
// for the worker is skipped (tooLate). The instance is busy for t.
func (a *Aggregator) runBlocking(t *target, w *workerBuf) {
	for t != nil {
		sib := t.pairedWith
		t.pairedWith = nil
		start := a.clock.Now()
		if reason, late := a.tooLate(t, start); late {
			if sib != nil {
				a.skip(sib, probe.SkipLate, reason) // the pair's first done: nothing to run next yet
			}
			t = a.skip(t, probe.SkipLate, reason)
		} else if sib != nil {
			t = a.runPair(t, sib, start, w)
		} else {
			a.count(a.late(t, start))
			w.resp = probe.Response{}
			// Sockets live in real time, whatever clock schedules the probes.
			t.checker.Check(t.req, time.Now().Add(t.spec.Timeout), &w.scratch, &w.resp)
			t = a.finish(t, start, &w.resp, false)
		}
		if t != nil && a.startAsync(t) {
			return
		}
	}
}

// runPair runs t and sib in one write on one connection and finishes both;
// it returns the instance's probe to run next.
func (a *Aggregator) runPair(t, sib *target, start time.Time, w *workerBuf) (next *target) {
	a.count(a.late(t, start))
	a.count(a.late(sib, start))
	w.resp, w.resp2 = probe.Response{}, probe.Response{}
	t.checker.(probe.PairChecker).CheckPair(t.req, sib.req, time.Now().Add(t.spec.Timeout), &w.scratch, &w.scratch2, &w.resp, &w.resp2)
	a.finish(t, start, &w.resp, false) // the pair's first done: nothing to run next yet
	return a.finish(sib, start, &w.resp2, false)
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
// one write; false means nothing started. The instance is busy for both.
func (a *Aggregator) startPair(t, sib *target) bool {
	start := a.clock.Now()
	late := a.prepareFlight(t, start)
	sibLate := a.prepareFlight(sib, start)
	if !t.async.StartPair(&t.flight, &sib.flight) {
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

// flightDone finishes a probe the poller ran (on the poller's goroutine)
// and starts the instance's next one, if one fell due meanwhile.
func (a *Aggregator) flightDone(t *target) {
	if next := a.finish(t, t.flightStart, &t.flight.Resp, true); next != nil { // the poller commits after its round
		a.start(next)
	}
}

// completed counts a finished probe (first: its target's first result,
// which FirstRound waits for) once its result is in the store: now, when
// the caller committed, else with commitLater once the poller's round has
// committed (afterPollerRound).
func (a *Aggregator) completed(commitLater, first bool) {
	if commitLater {
		if first {
			a.roundFirst.Add(1)
		}
		a.roundDone.Add(1)
		return
	}
	a.stats.done.Add(1)
	if first {
		a.firstResults(1)
	}
}

// afterPollerRound commits what the poller's round enqueued, then counts
// its probes complete. It reports whether the store changed (subscribers
// were woken).
func (a *Aggregator) afterPollerRound() bool {
	n := a.roundDone.Swap(0) // each counted probe enqueued before it was counted
	first := a.roundFirst.Swap(0)
	wrote := a.commits.commit()
	a.stats.done.Add(n)
	a.firstResults(first)
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
// transition if the status changed, queues the probe's next run and ends
// its turn in the instance's run state. It returns the instance's probe to
// run next (the instance stays busy for it), or nil. With commitLater a
// transition is only enqueued: the caller commits (the poller does once
// per round, so its transitions share store copies). A response that is a
// fault of vigil's own (probe.Skipped) says nothing about the instance:
// the probe is skipped instead (skip).
func (a *Aggregator) finish(t *target, start time.Time, resp *probe.Response, commitLater bool) (next *target) {
	if cause, local := probe.Skipped(resp.Err); local {
		return a.skip(t, cause, resp.Err.Error())
	}
	v := t.eval.Evaluate(resp)
	// Read: let go of the body (up to max_body_bytes) and headers now, or
	// the flight (which lives as long as the instance) or the worker's
	// response would pin them until the next probe.
	resp.Body, resp.Headers = nil, nil
	inst := t.inst
	if a.opts.Observer != nil {
		a.opts.Observer.ProbeDone(inst.cluster, t.name, v.Outcome, resp.Latency)
	}

	inst.mu.Lock()
	changed, first := false, false
	if !inst.run.retired {
		changed, first = a.recordLocked(t, start, resp, v)
	}
	next, closeNow := inst.run.done(a.stopping.Load())
	if closeNow {
		inst.closeCheckers()
	}
	inst.mu.Unlock()
	if changed && !commitLater {
		a.commits.commit()
	}
	a.completed(commitLater, first)
	return next
}

// recordLocked records t's result v, steps its machine, queues t's next
// run and the instance's member if that changed (changed: the caller
// commits). first reports t's first result. inst.mu is held.
func (a *Aggregator) recordLocked(t *target, start time.Time, resp *probe.Response, v dialect.Verdict) (changed, first bool) {
	inst := t.inst
	t.record(membership.ProbeResult{
		Time:       start,
		HTTPStatus: resp.StatusCode,
		LatencyMS:  float64(resp.Latency.Microseconds()) / 1000,
		Verdict:    v.Outcome,
		Reason:     v.Reason,
		Components: v.Components,
	})
	now := a.clock.Now()
	unreachable := probe.Classify(resp).Failed()
	changed = a.noteReachLocked(inst, t, unreachable, now)
	changed = a.expireOverrideLocked(inst, now) || changed
	held := false
	if unreachable {
		var queued bool
		held, queued = a.failSafeHoldsLocked(inst, t, v, now) // the fail-safe: not counted
		changed = changed || queued
	}
	if !held {
		// Liveness is presumed fine until unhealthy_threshold failures (as
		// a Kubernetes failureThreshold applies from the start); readiness
		// starts not ready unless initial_status says healthy.
		presumed := t.name == membership.Liveness || inst.presumedHealthy()
		t.m.step(v.Outcome, uint32(t.spec.HealthyThreshold), uint32(t.spec.UnhealthyThreshold), presumed)
		changed = a.republishLocked(inst, t, v, now) || changed
	}
	first, t.first = t.first, false
	a.sched.requeue(t, now)
	return changed, first
}

func (i *instance) presumedHealthy() bool { return i.spec.InitialStatus == "healthy" }

// closeCheckers releases the instance's connections once. inst.mu is held.
func (i *instance) closeCheckers() {
	for _, c := range i.checkers {
		_ = c.Close() // releases the instance's sockets; a close error leaves nothing to do
	}
	i.checkers = nil
}
