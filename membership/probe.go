package membership

import (
	"encoding/json"
	"errors"
	"time"
)

// ProbeName names which of an instance's probes a result belongs to.
type ProbeName string

// The two probes an instance may have.
const (
	Liveness  ProbeName = "liveness"
	Readiness ProbeName = "readiness"
)

// ProbeResult is one probe's outcome as kept in history.
type ProbeResult struct {
	Time       time.Time   `json:"time"`
	HTTPStatus int         `json:"http_status"`
	LatencyMS  float64     `json:"latency_ms"`
	Verdict    Outcome     `json:"verdict"`
	Reason     string      `json:"reason"`
	Components []Component `json:"components,omitempty"`
}

// ProbeState is the state of one probe of one instance.
type ProbeState struct {
	Probe ProbeName `json:"probe"`
	// State is this probe's rise/fall machine: "initial", "passing",
	// "failing" or "draining".
	State                string        `json:"state"`
	ConsecutiveSuccesses int           `json:"consecutive_successes"`
	ConsecutiveFailures  int           `json:"consecutive_failures"`
	NextProbe            time.Time     `json:"next_probe"`
	History              []ProbeResult `json:"history"` // newest first, at most HistorySize
}

// HistorySize is how many results each probe keeps.
const HistorySize = 20

// InstanceDetail is everything vigil knows about one instance right now.
type InstanceDetail struct {
	Member    Member      `json:"-"`
	Liveness  *ProbeState `json:"liveness,omitempty"`
	Readiness *ProbeState `json:"readiness,omitempty"`
}

// Outcome is what one probe response means.
type Outcome uint8

// Outcomes, from best to worst for rotation purposes.
const (
	OutcomePass     Outcome = iota // ready / live
	OutcomeDegraded                // serving, with a warning
	OutcomeDrain                   // asks to leave rotation now
	OutcomeFail                    // not ready / not live
)

func (o Outcome) String() string {
	switch o {
	case OutcomePass:
		return "pass"
	case OutcomeDegraded:
		return "degraded"
	case OutcomeDrain:
		return "drain"
	default:
		return "fail"
	}
}

// MarshalJSON writes the outcome name.
func (o Outcome) MarshalJSON() ([]byte, error) { return json.Marshal(o.String()) }

// Component is one sub-check a response reported (a dependency, an endpoint).
type Component struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// ErrNotFound is returned for an unknown cluster or instance.
var ErrNotFound = errors.New("not found")
