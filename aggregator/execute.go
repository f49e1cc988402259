package aggregator

import (
	"fmt"
	"time"

	"github.com/vigilhq/vigil/aggregator/probe"
)

// lateAfter is how far behind schedule a probe may start before it counts as late.
const lateAfter = 100 * time.Millisecond

// maxKeptScratch is the largest body buffer a worker keeps between probes.
const maxKeptScratch = 256 << 10

// worker runs due probes until the scheduler closes the work channel.
func (a *Aggregator) worker() {
	defer a.workers.Done()
	var resp probe.Response
	scratch := &probe.Scratch{Buf: make([]byte, 0, 4096)}
	for t := range a.sched.work {
		a.runInstance(t, &resp, scratch)
		if cap(scratch.Buf) > maxKeptScratch {
			scratch.Buf = make([]byte, 0, 4096)
		}
	}
}

// runInstance runs t and then any probe of the same instance that fell due
// meanwhile, so that probes of one instance never overlap and share its
// connection.
func (a *Aggregator) runInstance(t *target, resp *probe.Response, scratch *probe.Scratch) {
	inst := t.inst
	inst.mu.Lock()
	if inst.removed {
		inst.mu.Unlock()
		return
	}
	if inst.busy {
		inst.queued = t
		inst.mu.Unlock()
		return
	}
	inst.busy = true
	inst.mu.Unlock()
	for t != nil {
		a.probeOnce(t, resp, scratch)
		inst.mu.Lock()
		t, inst.queued = inst.queued, nil
		if t == nil {
			inst.busy = false
			if inst.removed {
				inst.closeCheckers()
			}
		}
		inst.mu.Unlock()
	}
}

// probeOnce performs one probe, records it, steps the machine, publishes a
// transition if the status changed, and queues the next run.
func (a *Aggregator) probeOnce(t *target, resp *probe.Response, scratch *probe.Scratch) {
	start := a.clock.Now()
	a.stats.probes.Add(1)
	if start.Sub(t.due) > lateAfter {
		a.stats.late.Add(1)
	}
	*resp = probe.Response{}
	// Sockets live in real time, whatever clock schedules the probes.
	t.checker.Check(t.req, time.Now().Add(t.spec.Timeout), scratch, resp)
	v := t.eval.Evaluate(resp)
	inst := t.inst
	if a.opts.Observer != nil {
		a.opts.Observer.ProbeDone(inst.cluster, t.name, v.Outcome, resp.Latency)
	}

	inst.mu.Lock()
	if inst.removed {
		inst.mu.Unlock()
		a.stats.done.Add(1)
		return
	}
	t.record(ProbeResult{
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
	presumed := t.name == Liveness || inst.presumedHealthy()
	t.m.step(v.Outcome, uint32(t.spec.HealthyThreshold), uint32(t.spec.UnhealthyThreshold), presumed)
	now := a.clock.Now()
	a.expireOverrideLocked(inst, now)
	a.republishLocked(inst, now, func() string {
		if t.m.phase == phaseDraining { // immediate: no count to speak of
			return fmt.Sprintf("%s: %s", t.name, v.Reason)
		}
		return fmt.Sprintf("%s: %s (%d in a row)", t.name, v.Reason, t.m.run())
	})
	if t.first {
		t.first = false
		a.firstResult()
	}
	next := t.due.Add(jittered(t.m.interval(&t.spec.Timing), t.spec.JitterPercent))
	if next.Before(now) {
		next = now
	}
	inst.mu.Unlock()
	a.sched.add(t, next)
	a.stats.done.Add(1)
}

// republishLocked recomputes inst's status and, when it changed, publishes
// the transition with the reason reason() builds. inst.mu is held.
func (a *Aggregator) republishLocked(inst *instance, now time.Time, reason func() string) {
	live, ready := inst.machines()
	status := publishedStatus(live, ready, inst.spec.InitialStatus, inst.override.Active(now))
	if status == inst.status {
		return
	}
	from := inst.status
	inst.status, inst.since = status, now
	inst.reason = reason()
	if status == StatusDraining && inst.override.Active(now) {
		inst.reason = "manual drain: " + inst.override.Reason
	}
	a.publishMemberLocked(inst, Event{Time: now, Kind: EventTransition, From: from, To: status, Reason: inst.reason})
	a.opts.Logger.Info("status changed", "cluster", inst.cluster, "instance", inst.inst.ID,
		"from", from.String(), "to", status.String(), "reason", inst.reason)
}

// publishMemberLocked writes inst's member into the store with ev and
// returns once it is there. inst.mu is held.
func (a *Aggregator) publishMemberLocked(inst *instance, ev Event) {
	ev.Cluster, ev.Instance, ev.Address = inst.cluster, inst.inst.ID, inst.inst.Address
	a.commits.enqueue(inst.cluster, inst.member(), ev)
	a.commits.commit()
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
	a.publishMemberLocked(inst, Event{Time: now, Kind: EventOverride, From: from, To: status, Reason: why, By: by})
}

func (i *instance) presumedHealthy() bool { return i.spec.InitialStatus == "healthy" }

// closeCheckers releases the instance's connections once. inst.mu is held.
func (i *instance) closeCheckers() {
	for _, c := range i.checkers {
		c.Close()
	}
	i.checkers = nil
}
