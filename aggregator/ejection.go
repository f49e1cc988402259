package aggregator

import (
	"time"

	"github.com/vigilhq/vigil/aggregator/dialect"
	"github.com/vigilhq/vigil/membership"
)

// ejectState is where an instance stands with its cluster's ejector (the
// max_ejection_percent cap, ejector.go), as its own lock sees it.
type ejectState uint8

const (
	ejNone    ejectState = iota // its probes do not put it out of rotation
	ejOut                       // published UNHEALTHY for failed probes, counted
	ejWaiting                   // its probes fail, but the cap is reached: held
)

// capLocked applies the cluster's max_ejection_percent to status, which
// the machines decide (by: the machine that decides it). It returns the
// status to publish: status, or the one published now while the instance
// waits for a place, held. heldChanged: inst.held changed. An instance
// that no longer counts as out frees its place; the instance that has
// waited longest is queued to be re-decided. inst.mu is held.
func (a *Aggregator) capLocked(inst *instance, status membership.Status, by *machine, now time.Time) (out membership.Status, heldChanged bool) {
	failing := status == membership.StatusUnhealthy && by != nil && by.phase == phaseFailing
	switch {
	case failing && inst.ejected != ejOut:
		ok, reason := inst.ej.admit(inst.ejMark, servesTraffic(inst.status))
		if !ok {
			inst.ejected = ejWaiting
			return inst.status, setHeldLocked(inst, membership.HoldMaxEjection, reason, now)
		}
		inst.ejected = ejOut
	case !failing && inst.ejected != ejNone:
		inst.ejected = ejNone
		a.redo.add(inst.ej.back(inst.ejMark))
	}
	if inst.held != nil && inst.held.Cause == membership.HoldMaxEjection {
		inst.held = nil
		return status, true
	}
	return status, false
}

// countRestoredOut counts a restored instance that was out of rotation
// for failed probes as out at once, so that the cap holds from the first
// probe after a restart. inst is new: nobody else holds it yet.
func countRestoredOut(inst *instance, now time.Time) {
	live, ready := inst.machines()
	_, by := decide(live, ready, inst.spec.InitialStatus, inst.override.Active(now))
	if inst.status == membership.StatusUnhealthy && by != nil && by.phase == phaseFailing {
		inst.ej.admit(inst.ejMark, false)
		inst.ejected = ejOut
	}
}

// setHeldLocked marks inst held for cause, keeping the start of a hold of
// the same cause; it reports whether that changed anything. inst.mu is held.
func setHeldLocked(inst *instance, cause membership.HoldCause, reason string, now time.Time) (changed bool) {
	if h := inst.held; h != nil && h.Cause == cause && h.Reason == reason {
		return false
	}
	since := now
	if h := inst.held; h != nil && h.Cause == cause {
		since = h.Since
	}
	inst.held = &membership.Hold{Cause: cause, Reason: reason, Since: since}
	return true
}

// redecide publishes inst's status anew, from its machines as they stand:
// the ejection cap made room, and if its probes still fail it now leaves
// rotation (with the count of its latest result), and any instance it
// hands on in turn is queued.
func (a *Aggregator) redecide(inst *instance) {
	now := a.clock.Now()
	inst.mu.Lock()
	queued := false
	if !inst.run.retired {
		live, ready := inst.machines()
		_, by := decide(live, ready, inst.spec.InitialStatus, inst.override.Active(now))
		t := inst.ready
		if t == nil || (by != nil && by == live) {
			t = inst.live
		}
		queued = a.republishLocked(inst, t, t.latest(), now)
	}
	inst.mu.Unlock()
	if queued {
		a.commits.commit()
	}
}

// latest is t's newest result as a verdict (no result yet: an empty one).
// The instance's mu is held.
func (t *target) latest() dialect.Verdict {
	if t.histN == 0 {
		return dialect.Verdict{Reason: "no probe result yet"}
	}
	r := t.hist[(t.histPos-1+membership.HistorySize)%membership.HistorySize]
	return dialect.Verdict{Outcome: r.Verdict, Reason: r.Reason}
}
