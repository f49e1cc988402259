package replicas

import (
	"fmt"
	"time"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// vote is one replica's view of one instance: its own verdict and the
// status and reason it decided from it.
type vote struct {
	replica string
	verdict membership.Verdict
	status  membership.Status
	reason  string
}

// mergePhase merges one probe's phase over the votes (own first). A vote
// whose phase is initial or absent does not count. Any draining vote
// drains; otherwise failing needs the fail quorum and passing the recover
// quorum of the v counted votes; with neither, the previous merged phase
// stays (hysteresis). A probe this replica does not have is absent.
func mergePhase(q Quorum, phases []membership.Phase, prev membership.Phase) membership.Phase {
	if len(phases) == 0 || phases[0] == membership.PhaseAbsent {
		return membership.PhaseAbsent
	}
	var pass, fail, v int
	for _, p := range phases {
		switch p {
		case membership.PhaseDraining:
			return membership.PhaseDraining
		case membership.PhasePassing:
			pass++
			v++
		case membership.PhaseFailing:
			fail++
			v++
		}
	}
	if v > 0 {
		failQ, recoverQ := q.thresholds(v)
		if fail >= failQ {
			return membership.PhaseFailing
		}
		if pass >= recoverQ {
			return membership.PhasePassing
		}
	}
	if prev == membership.PhaseAbsent {
		return membership.PhaseInitial
	}
	return prev
}

// mergeVerdict merges the votes' verdicts (own first) probe by probe;
// prev is the instance's previous merged verdict (initial phases for a
// new instance). Degraded: most of the votes whose deciding probe passes
// say degraded; with none passing it is own's flag, which Decide ignores.
func mergeVerdict(q Quorum, votes []vote, prev membership.Verdict) membership.Verdict {
	phases := make([]membership.Phase, len(votes))
	var out membership.Verdict
	for i := range votes {
		phases[i] = votes[i].verdict.Live
	}
	out.Live = mergePhase(q, phases, prev.Live)
	for i := range votes {
		phases[i] = votes[i].verdict.Ready
	}
	out.Ready = mergePhase(q, phases, prev.Ready)

	primary := func(v membership.Verdict) membership.Phase {
		if votes[0].verdict.Ready == membership.PhaseAbsent {
			return v.Live
		}
		return v.Ready
	}
	out.Degraded = votes[0].verdict.Degraded
	if primary(out) == membership.PhasePassing {
		passing, degraded := 0, 0
		for i := range votes {
			if primary(votes[i].verdict) == membership.PhasePassing {
				passing++
				if votes[i].verdict.Degraded {
					degraded++
				}
			}
		}
		if passing > 0 {
			out.Degraded = 2*degraded > passing
		}
	}
	return out
}

// agree reports whether every vote that has a verdict has the same one.
func agree(votes []vote) bool {
	var first *membership.Verdict
	for i := range votes {
		if !hasVerdict(votes[i].verdict) {
			continue
		}
		if first == nil {
			first = &votes[i].verdict
		} else if votes[i].verdict != *first {
			return false
		}
	}
	return true
}

// hasVerdict: some probe of v has left the initial phase.
func hasVerdict(v membership.Verdict) bool {
	counts := func(p membership.Phase) bool {
		return p == membership.PhasePassing || p == membership.PhaseFailing || p == membership.PhaseDraining
	}
	return counts(v.Live) || counts(v.Ready)
}

// mergeMember is own's merged member: own with Status, Reason, Verdict and
// (when the status changes) Since replaced. votes[0] is own's vote; prev
// is the previous merged member (nil for a new instance). The reason comes
// from the first vote whose verdict and status match the merged ones
// (own first), else stays when the status does, else names the tally.
func mergeMember(q Quorum, own *membership.Member, initial upstreams.InitialStatus, votes []vote, prev *membership.Member, now time.Time) membership.Member {
	prevV := membership.Verdict{}
	if prev != nil {
		prevV = prev.Verdict
	}
	v := mergeVerdict(q, votes, prevV)
	m := *own
	m.Verdict = v
	m.Status = membership.Decide(v, initial, own.Override.Active(now))
	switch {
	case own.Override.Active(now):
		m.Reason = own.Reason
	case prev != nil && prev.Status == m.Status && prev.Verdict == v:
		m.Reason = prev.Reason
	default:
		m.Reason = ""
		for i := range votes {
			if votes[i].verdict == v && votes[i].status == m.Status {
				m.Reason = votes[i].reason
				break
			}
		}
		if m.Reason == "" {
			if prev != nil && prev.Status == m.Status {
				m.Reason = prev.Reason
			} else {
				m.Reason = tally(votes, v)
			}
		}
	}
	holdAsOwn(&m, own)
	switch {
	case prev == nil:
		m.Since = own.Since
	case prev.Status == m.Status:
		m.Since = prev.Since
	default:
		m.Since = now
	}
	return m
}

// holdAsOwn keeps this replica's hold (its fail-safe, or its cluster's
// max_ejection_percent) in the merged member m: when the merged verdict
// would take the instance out of rotation for failed probes and own holds
// it in rotation, m keeps own's status, reason and hold; when m's status
// is own's anyway, the hold shows as own's. A drain is never held, and a
// merged status that follows its verdict carries no hold.
func holdAsOwn(m *membership.Member, own *membership.Member) {
	m.Held = nil
	if own.Held == nil {
		return
	}
	switch {
	case m.Status == own.Status:
		m.Held = own.Held
	case m.Status != membership.StatusDraining && !m.Status.InRotation() && own.Status.InRotation():
		m.Status, m.Reason, m.Held = own.Status, own.Reason, own.Held
	}
}

// tally explains a merged verdict that no single replica holds.
func tally(votes []vote, v membership.Verdict) string {
	count := func(get func(membership.Verdict) membership.Phase, p membership.Phase) (n, of int) {
		for i := range votes {
			switch get(votes[i].verdict) {
			case membership.PhasePassing, membership.PhaseFailing, membership.PhaseDraining:
				of++
				if get(votes[i].verdict) == p {
					n++
				}
			}
		}
		return n, of
	}
	live := func(v membership.Verdict) membership.Phase { return v.Live }
	ready := func(v membership.Verdict) membership.Phase { return v.Ready }
	probe, get, phase := "readiness", ready, v.Ready
	if v.Live == membership.PhaseFailing || v.Live == membership.PhaseDraining || v.Ready == membership.PhaseAbsent {
		probe, get, phase = "liveness", live, v.Live
	}
	n, of := count(get, phase)
	if of == 0 {
		return "replicas: no verdict yet"
	}
	return fmt.Sprintf("replicas: %s %s on %d of %d", probe, phase, n, of)
}
