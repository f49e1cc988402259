package aggregator

import (
	"strings"

	"github.com/vigilhq/vigil/membership"
)

// restore starts inst from m, its member as last published (by the
// process before a restart), as if vigil had never stopped: the same
// status, reason and since, and each probe's machine in m's phase with its
// count at the threshold, so that a restored passing probe fails only
// after unhealthy_threshold failures and a restored failing one passes
// after healthy_threshold passes (a drain still acts on the first answer).
// inst is new: nobody else holds it yet.
func (i *instance) restore(m membership.Member) {
	i.status, i.reason, i.since = m.Status, m.Reason, m.Since
	i.reasonBy, i.reasonText = reasonParts(m.Reason)
	i.live.restore(m.Verdict.Live)
	i.ready.restore(m.Verdict.Ready)
	if primary := i.ready; primary != nil {
		primary.m.degraded = m.Verdict.Degraded
	} else if i.live != nil {
		i.live.m.degraded = m.Verdict.Degraded
	}
	i.verdict = verdictOf(i.machines())
	i.restored = true
}

// restore puts t's machine (t may be nil: no such probe) in phase p, its
// run at the threshold.
func (t *target) restore(p membership.Phase) {
	if t == nil {
		return
	}
	t.m = machine{phase: p}
	switch p {
	case phasePassing:
		t.m.successes = uint32(t.spec.HealthyThreshold)
	case phaseFailing:
		t.m.failures = uint32(t.spec.UnhealthyThreshold)
	}
}

// reasonParts reads back the probe and the verdict reason from a reason
// republishLocked wrote ("readiness: 503 not_ready (3 in a row)"), so that
// a restored instance whose probe keeps answering the same does not
// rewrite its member; "" for a reason that is no probe's.
func reasonParts(reason string) (membership.ProbeName, string) {
	for _, p := range []membership.ProbeName{membership.Liveness, membership.Readiness} {
		why, ok := strings.CutPrefix(reason, string(p)+": ")
		if !ok {
			continue
		}
		if i := strings.LastIndex(why, " ("); i >= 0 && strings.HasSuffix(why, " in a row)") {
			why = why[:i]
		}
		return p, why
	}
	return "", ""
}

// addedReason is the reason of an instance's added event.
func addedReason(inst *instance) string {
	if inst.restored {
		return "added, restored as last published: " + inst.status.String() + " since " +
			inst.since.UTC().Format("2006-01-02T15:04:05Z") + " (" + inst.reason + ")"
	}
	return "added"
}
