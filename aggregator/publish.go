package aggregator

import (
	"fmt"
	"time"

	"github.com/vigilhq/vigil/aggregator/dialect"
	"github.com/vigilhq/vigil/membership"
)

// Member changes. An instance's member is changed and queued for the
// committer under its mu, so its changes reach the store in order; the
// caller commits once the mu is released (see the lock order in doc.go),
// or leaves it to the poller's round.

// republishLocked recomputes inst's status after t's result v. A new
// status is queued as a transition, its reason t's result with the count
// behind it. When the status stays, and t decides it with a result that
// explains it (a failure keeping a failing probe failing, not a failure
// below the threshold of a passing one), but with another reason than the
// one published (the text, not the count), the member is queued with
// that reason, without a count (which it would otherwise have to follow
// every probe) and without an event: the published reason is the current
// one, and a reason alone is no transition. Likewise a verdict that
// changed under the same status (the probe that does not decide it
// changed phase) is queued without an event. The cluster's
// max_ejection_percent may hold the status as it is (capLocked); the
// reason then stays the one published, and the hold says why. It reports
// whether it queued anything. inst.mu is held.
func (a *Aggregator) republishLocked(inst *instance, t *target, v dialect.Verdict, now time.Time) (queued bool) {
	live, ready := inst.machines()
	overridden := inst.override.Active(now)
	status, by := decide(live, ready, inst.spec.InitialStatus, overridden)
	status, heldChanged := a.capLocked(inst, status, by, now)
	why := v.Reason
	if status == inst.status {
		newReason := inst.ejected != ejWaiting && by == &t.m && t.m.explains(v.Outcome) &&
			(inst.reasonBy != t.name || inst.reasonText != why)
		if !newReason && !heldChanged && verdictOf(live, ready) == inst.verdict {
			return false
		}
		if newReason {
			inst.reasonBy, inst.reasonText = t.name, why
			inst.reason = string(t.name) + ": " + why
		}
		a.enqueueMemberLocked(inst)
		return true
	}
	reasonBy, reason := t.name, fmt.Sprintf("%s: %s (%d in a row)", t.name, why, t.m.run())
	switch {
	case status == membership.StatusDraining && overridden:
		reasonBy, reason = "", "manual drain: "+inst.override.Reason
	case t.m.phase == phaseDraining: // immediate: no count to speak of
		reason = fmt.Sprintf("%s: %s", t.name, why)
	}
	a.moveLocked(inst, status, reasonBy, why, reason, now)
	return true
}

// moveLocked publishes inst's new status with its reason (by and why: the
// probe and verdict reason it tells, "" when not a probe's) and one
// transition event. inst.mu is held.
func (a *Aggregator) moveLocked(inst *instance, status membership.Status, by membership.ProbeName, why, reason string, now time.Time) {
	from := inst.status
	inst.status, inst.since = status, now
	inst.reasonBy, inst.reasonText, inst.reason = by, why, reason
	a.enqueueMemberLocked(inst, membership.Event{Time: now, Kind: membership.EventTransition, From: from, To: status, Reason: reason})
	a.opts.Logger.Info("status changed", "cluster", inst.cluster, "instance", inst.inst.ID,
		"from", from.String(), "to", status.String(), "reason", reason)
}

// enqueueMemberLocked queues inst's member, with evs, for the next commit.
// inst.mu is held.
func (a *Aggregator) enqueueMemberLocked(inst *instance, evs ...membership.Event) {
	for i := range evs {
		evs[i].Cluster, evs[i].Instance, evs[i].Address = inst.cluster, inst.inst.ID, inst.inst.Address
	}
	m := inst.member()
	inst.verdict = m.Verdict
	a.commits.enqueue(inst.cluster, m, evs...)
}

// expireOverrideLocked clears an override whose ttl has ended; it reports
// whether it queued the change. inst.mu is held.
func (a *Aggregator) expireOverrideLocked(inst *instance, now time.Time) (queued bool) {
	if inst.override == nil || inst.override.Active(now) {
		return false
	}
	o := inst.override
	inst.override = nil
	a.forgetOverride(inst)
	a.opts.Logger.Info("manual drain expired", "cluster", inst.cluster, "instance", inst.inst.ID, "reason", o.Reason)
	a.overrideChangedLocked(inst, now, "ttl", "manual drain expired: "+o.Reason)
	return true
}

// overrideChangedLocked queues inst's member after its override changed,
// with an override event even when the status stays. inst.mu is held.
func (a *Aggregator) overrideChangedLocked(inst *instance, now time.Time, by, why string) {
	live, ready := inst.machines()
	from := inst.status
	status, decidedBy := decide(live, ready, inst.spec.InitialStatus, inst.override.Active(now))
	status, _ = a.capLocked(inst, status, decidedBy, now)
	if inst.override.Active(now) && inst.held != nil { // a drained instance is never held
		inst.held = nil
		a.guard.unhold(inst)
	}
	if status != from {
		inst.status, inst.since = status, now
		inst.reason, inst.reasonBy = why, ""
	}
	a.enqueueMemberLocked(inst, membership.Event{Time: now, Kind: membership.EventOverride, From: from, To: status, Reason: why, By: by})
}
