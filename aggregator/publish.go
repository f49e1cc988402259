package aggregator

import (
	"time"

	"github.com/vigilhq/vigil/membership"
)

// Member changes. An instance's member is changed and queued for the
// committer under its mu, so its changes reach the store in order; the
// caller commits once the mu is released (see the lock order in doc.go),
// or leaves it to the poller's round.

// republishLocked recomputes inst's status and, when it changed, queues
// the transition with the reason reason() builds. It reports whether it
// queued anything. inst.mu is held.
func (a *Aggregator) republishLocked(inst *instance, now time.Time, reason func() string) (queued bool) {
	live, ready := inst.machines()
	status := publishedStatus(live, ready, inst.spec.InitialStatus, inst.override.Active(now))
	if status == inst.status {
		return false
	}
	from := inst.status
	inst.status, inst.since = status, now
	inst.reason = reason()
	if status == membership.StatusDraining && inst.override.Active(now) {
		inst.reason = "manual drain: " + inst.override.Reason
	}
	a.enqueueMemberLocked(inst, membership.Event{Time: now, Kind: membership.EventTransition, From: from, To: status, Reason: inst.reason})
	a.opts.Logger.Info("status changed", "cluster", inst.cluster, "instance", inst.inst.ID,
		"from", from.String(), "to", status.String(), "reason", inst.reason)
	return true
}

// enqueueMemberLocked queues inst's member, with evs, for the next commit.
// inst.mu is held.
func (a *Aggregator) enqueueMemberLocked(inst *instance, evs ...membership.Event) {
	for i := range evs {
		evs[i].Cluster, evs[i].Instance, evs[i].Address = inst.cluster, inst.inst.ID, inst.inst.Address
	}
	a.commits.enqueue(inst.cluster, inst.member(), evs...)
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
	status := publishedStatus(live, ready, inst.spec.InitialStatus, inst.override.Active(now))
	if status != from {
		inst.status, inst.since = status, now
		inst.reason = why
	}
	a.enqueueMemberLocked(inst, membership.Event{Time: now, Kind: membership.EventOverride, From: from, To: status, Reason: why, By: by})
}
