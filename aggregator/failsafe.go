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
		a.opts.Logger.Warn("fail-safe holding: connection-level failures of instances in rotation are not counted",
			"reason", ch.reason)
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
