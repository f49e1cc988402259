package aggregator

import (
	"context"
	"fmt"
	"time"

	"github.com/vigilhq/vigil/aggregator/dialect"
	"github.com/vigilhq/vigil/membership"
)

// The fail-safe in the aggregator: each probe result is classified
// (probe.Classify); the guard (guard.go) hears of an instance only when
// its classification flips, and while it holds, a connection-level
// failure of an instance in rotation is recorded but not counted by the
// instance's machine, which keeps its status and verdict, held. The hold
// loop publishes trips and releases, and re-decides instances handed back
// by the ejection cap, outside any instance's lock.

// SetFailSafe changes the fail-safe's settings (at start and on reload);
// disabling it lets go of a hold at once.
func (a *Aggregator) SetFailSafe(fs FailSafe) { a.guard.configure(fs, a.clock.Now()) }

// servesTraffic reports whether a published status keeps an instance in
// rotation for Envoy and gRPC clients (UNKNOWN included).
func servesTraffic(s membership.Status) bool {
	return s == membership.StatusHealthy || s == membership.StatusDegraded || s == membership.StatusUnknown
}

// noteReachLocked records whether t's latest result failed at connection
// level, tells the guard when the instance's standing flips (any of its
// probes failing that way), and lifts a fail-safe hold once all its probes
// answer. It reports whether it queued the member. A result like the one
// before costs two comparisons. inst.mu is held.
func (a *Aggregator) noteReachLocked(inst *instance, t *target, failed bool, now time.Time) (queued bool) {
	if t.unreach != failed {
		t.unreach = failed
		down := (inst.live != nil && inst.live.unreach) || (inst.ready != nil && inst.ready.unreach)
		if down != inst.unreach {
			inst.unreach = down
			inst.beforeOnset = onsetPoint{}
			if down && servesTraffic(inst.status) && inst.held == nil && !inst.override.Active(now) {
				inst.beforeOnset.ok = true
				if inst.live != nil {
					inst.beforeOnset.live = inst.live.m
				}
				if inst.ready != nil {
					inst.beforeOnset.ready = inst.ready.m
				}
			}
			a.guard.report(inst.guardMark, down, now)
		}
	}
	if inst.unreach || inst.held == nil || inst.held.Cause != membership.HoldFailSafe {
		return false
	}
	inst.held = nil
	a.guard.unhold(inst)
	a.enqueueMemberLocked(inst)
	return true
}

// failSafeHoldsLocked decides whether t's connection-level failure v goes
// uncounted: the guard holds, and the instance is in rotation, not
// drained by hand, and not held by the ejection cap. The instance is then
// marked held with the failure as the reason (queued: its member changed).
// inst.mu is held.
func (a *Aggregator) failSafeHoldsLocked(inst *instance, t *target, v dialect.Verdict, now time.Time) (held, queued bool) {
	if !servesTraffic(inst.status) || inst.override.Active(now) ||
		(inst.held != nil && inst.held.Cause != membership.HoldFailSafe) || !a.guard.hold(inst) {
		return false, false
	}
	reason := fmt.Sprintf("%s: %s (not counted while the fail-safe holds)", t.name, v.Reason)
	if !setHeldLocked(inst, membership.HoldFailSafe, reason, now) {
		return true, false
	}
	a.enqueueMemberLocked(inst)
	return true, true
}

// holdLoop publishes the fail-safe's trips and releases and re-decides the
// instances the ejection cap hands back, until ctx ends.
func (a *Aggregator) holdLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.guard.wake:
			for _, ch := range a.guard.takeChanges() {
				a.publishFailSafe(ch)
			}
		case <-a.redo.wake:
			for _, inst := range a.redo.take() {
				a.redecide(inst)
			}
		}
	}
}

// publishFailSafe records a trip or a release: the store's FailSafe with
// one event, one log line, and at a release every held instance unmarked,
// its failures counted again from its next probe.
func (a *Aggregator) publishFailSafe(ch guardChange) {
	word := "holding: "
	if !ch.holding {
		word = "released: "
	}
	a.opts.Store.SetFailSafe(membership.FailSafe{Holding: ch.holding, Reason: ch.reason, Since: ch.at},
		[]membership.Event{{Time: ch.at, Kind: membership.EventFailSafe, Reason: word + ch.reason}})
	if ch.holding {
		back := a.putBack(ch.onsets)
		a.opts.Logger.Warn("fail-safe holding: connection-level failures of instances in rotation are not counted",
			"reason", ch.reason, "put_back", back)
		return
	}
	queued := false
	for _, inst := range ch.held {
		inst.mu.Lock()
		if !inst.run.retired && inst.held != nil && inst.held.Cause == membership.HoldFailSafe {
			inst.held = nil
			a.enqueueMemberLocked(inst)
			queued = true
		}
		inst.mu.Unlock()
	}
	if queued {
		a.commits.commit()
	}
	a.opts.Logger.Info("fail-safe released", "reason", ch.reason, "held", len(ch.held))
}

// putBack returns to rotation, held, those of insts (the instances whose
// onsets tripped the fail-safe) that left it for those failures before
// the trip: with unhealthy_threshold 1 an instance leaves on its first
// failure, before the guard has seen enough onsets. Had the guard known
// sooner, those failures would not have counted, so their machines go
// back to where they stood at the onset. It returns how many it put back.
func (a *Aggregator) putBack(insts []*instance) int {
	now := a.clock.Now()
	n := 0
	for _, inst := range insts {
		inst.mu.Lock()
		if a.putBackLocked(inst, now) {
			n++
		}
		inst.mu.Unlock()
	}
	if n > 0 {
		a.commits.commit()
	}
	return n
}

// putBackLocked puts inst back if the failures that began at its onset,
// which it still fails with, took it out of rotation, or made it wait,
// held, for a place under the ejection cap (it would otherwise take the
// place that putting back another frees). inst.mu is held.
func (a *Aggregator) putBackLocked(inst *instance, now time.Time) bool {
	p := inst.beforeOnset
	out := !servesTraffic(inst.status) && inst.held == nil
	waiting := inst.held != nil && inst.held.Cause == membership.HoldMaxEjection
	stillIn := !out && !waiting // in rotation, or held by the fail-safe already: nothing to put back
	if inst.run.retired || !p.ok || !inst.unreach || stillIn || inst.override.Active(now) || !a.guard.hold(inst) {
		return false
	}
	inst.beforeOnset = onsetPoint{}
	if inst.live != nil {
		inst.live.m = p.live
	}
	if inst.ready != nil {
		inst.ready.m = p.ready
	}
	t := inst.live
	if t == nil || (inst.ready != nil && inst.ready.unreach) {
		t = inst.ready
	}
	why := t.latest().Reason
	setHeldLocked(inst, membership.HoldFailSafe, fmt.Sprintf("%s: %s (not counted while the fail-safe holds)", t.name, why), now)
	live, ready := inst.machines()
	status, by := decide(live, ready, inst.spec.InitialStatus, false)
	status, _ = a.capLocked(inst, status, by, now)
	if status == inst.status {
		a.enqueueMemberLocked(inst)
		return true
	}
	a.moveLocked(inst, status, t.name, why, fmt.Sprintf("%s: put back in rotation: the fail-safe tripped on failures that began with this one (%s)", t.name, why), now)
	return true
}
