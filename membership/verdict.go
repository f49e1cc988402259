package membership

import (
	"encoding/json"
	"fmt"

	"github.com/vigilhq/vigil/upstreams"
)

// Phase is where one probe's rise/fall machine stands.
type Phase uint8

// Phases. The zero value is PhaseInitial, so a new machine starts there.
const (
	PhaseInitial  Phase = iota // no verdict yet: the instance shows initial_status
	PhasePassing               // healthy_threshold passes in a row (or the first pass)
	PhaseFailing               // unhealthy_threshold failures in a row
	PhaseDraining              // a drain answer, effective at once
	PhaseAbsent                // the instance has no such probe
)

var phaseNames = [...]string{"initial", "passing", "failing", "draining", "absent"}

func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("phase(%d)", uint8(p))
}

// MarshalJSON writes the phase name.
func (p Phase) MarshalJSON() ([]byte, error) { return json.Marshal(p.String()) }

// UnmarshalJSON reads a phase name.
func (p *Phase) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return err
	}
	for i, n := range phaseNames {
		if n == name {
			*p = Phase(i)
			return nil
		}
	}
	return fmt.Errorf("unknown probe phase %q", name)
}

// Verdict is the per-probe state behind a member's status: what one vigil
// concluded from its own probes. It is what a restart restores and what
// replicas share with each other; Decide turns it into a status.
type Verdict struct {
	Live  Phase `json:"live"`
	Ready Phase `json:"ready"`
	// Degraded: the deciding probe (readiness, else liveness) passes with a
	// warning.
	Degraded bool `json:"degraded,omitempty"`
}

// Decide is an instance's published status; the first match wins: manual
// override > liveness failed > drain > readiness failed > readiness
// degraded > healthy. Before the deciding probe's first verdict the
// instance shows its initial status.
func Decide(v Verdict, initial upstreams.InitialStatus, overridden bool) Status {
	s, _ := DecideBy(v, initial, overridden)
	return s
}

// DecideBy is Decide, with the probe whose verdict decides the status ("":
// the override does, or the instance has no probe). That probe's latest
// result is what explains the status.
func DecideBy(v Verdict, initial upstreams.InitialStatus, overridden bool) (Status, ProbeName) {
	if overridden {
		return StatusDraining, ""
	}
	if v.Live == PhaseFailing {
		return StatusUnhealthy, Liveness
	}
	if v.Ready == PhaseDraining {
		return StatusDraining, Readiness
	}
	if v.Live == PhaseDraining {
		return StatusDraining, Liveness
	}
	primary, by := v.Ready, Readiness
	if primary == PhaseAbsent {
		primary, by = v.Live, Liveness
	}
	switch primary {
	case PhaseFailing:
		return StatusUnhealthy, by
	case PhasePassing:
		if v.Degraded {
			return StatusDegraded, by
		}
		return StatusHealthy, by
	case PhaseAbsent:
		return InitialStatus(initial), ""
	}
	return InitialStatus(initial), by
}

// InitialStatus is the status shown before a verdict.
func InitialStatus(s upstreams.InitialStatus) Status {
	switch s {
	case upstreams.InitialHealthy:
		return StatusHealthy
	case upstreams.InitialUnknown:
		return StatusUnknown
	}
	return StatusUnhealthy
}
