package aggregator

import (
	"time"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// phase is where one probe's rise/fall machine stands; its zero value is
// the initial phase.
type phase = membership.Phase

const (
	phaseInitial  = membership.PhaseInitial
	phasePassing  = membership.PhasePassing
	phaseFailing  = membership.PhaseFailing
	phaseDraining = membership.PhaseDraining
)

// machine is the rise/fall state of one probe of one instance. Step is
// allocation-free.
type machine struct {
	phase     phase
	successes uint32 // consecutive passes (pass or degraded)
	failures  uint32 // consecutive failures
	degraded  bool   // the latest pass said degraded
}

// step applies one outcome and reports whether the phase changed.
//   - The first pass leaves the initial phase at once (as Envoy does at startup).
//   - From failing or draining, healthy_threshold passes in a row are needed.
//   - A drain is effective on the first answer, from any phase.
//   - unhealthy_threshold failures in a row fail a passing or draining probe;
//     from the initial phase one failure is enough, unless the instance
//     starts presumed healthy (initial_status: healthy).
func (m *machine) step(o membership.Outcome, rise, fall uint32, presumedHealthy bool) bool {
	before := m.phase
	switch o {
	case membership.OutcomePass, membership.OutcomeDegraded:
		m.successes++
		m.failures = 0
		m.degraded = o == membership.OutcomeDegraded
		switch m.phase {
		case phaseInitial:
			m.phase = phasePassing
		case phaseFailing, phaseDraining:
			if m.successes >= rise {
				m.phase = phasePassing
			}
		}
	case membership.OutcomeDrain:
		m.successes, m.failures = 0, 0
		m.phase = phaseDraining
	default:
		m.failures++
		m.successes = 0
		need := fall
		if m.phase == phaseInitial && !presumedHealthy {
			need = 1
		}
		if m.phase != phaseFailing && m.failures >= need {
			m.phase = phaseFailing
		}
	}
	return m.phase != before
}

// explains reports whether outcome o, just stepped, is what keeps the
// machine in its phase: a pass while passing, a failure while failing, a
// drain while draining. A result against the phase (a failure below the
// threshold of a passing probe) does not explain it, nor does any before
// the first verdict.
func (m *machine) explains(o membership.Outcome) bool {
	switch m.phase {
	case phasePassing:
		return o == membership.OutcomePass || o == membership.OutcomeDegraded
	case phaseFailing:
		return o != membership.OutcomePass && o != membership.OutcomeDegraded && o != membership.OutcomeDrain
	case phaseDraining:
		return o == membership.OutcomeDrain
	}
	return false
}

// interval is the period until this probe's next run (before jitter).
func (m *machine) interval(t *upstreams.Timing) time.Duration {
	if m.phase == phaseFailing && t.UnhealthyInterval > 0 {
		return t.UnhealthyInterval
	}
	return t.Interval
}

// run returns the consecutive count behind the current phase.
func (m *machine) run() uint32 {
	if m.phase == phaseFailing {
		return m.failures
	}
	return m.successes
}

// verdictOf is what an instance's machines conclude; live or ready may be
// nil (that probe is absent).
func verdictOf(live, ready *machine) membership.Verdict {
	v := membership.Verdict{Live: membership.PhaseAbsent, Ready: membership.PhaseAbsent}
	primary := ready
	if primary == nil {
		primary = live
	}
	if live != nil {
		v.Live = live.phase
	}
	if ready != nil {
		v.Ready = ready.phase
	}
	v.Degraded = primary != nil && primary.degraded
	return v
}

// publishedStatus decides an instance's status (membership.Decide) from
// its machines.
func publishedStatus(live, ready *machine, initial upstreams.InitialStatus, overridden bool) membership.Status {
	return membership.Decide(verdictOf(live, ready), initial, overridden)
}

// decide is publishedStatus, with the machine whose probe decides it (nil:
// the override does, or no probe): its latest result explains the status.
func decide(live, ready *machine, initial upstreams.InitialStatus, overridden bool) (membership.Status, *machine) {
	status, by := membership.DecideBy(verdictOf(live, ready), initial, overridden)
	switch by {
	case membership.Liveness:
		return status, live
	case membership.Readiness:
		return status, ready
	}
	return status, nil
}
