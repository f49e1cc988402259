package aggregator

import (
	"time"

	"github.com/vigilhq/vigil/aggregator/dialect"
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
	Time       time.Time           `json:"time"`
	HTTPStatus int                 `json:"http_status"`
	LatencyMS  float64             `json:"latency_ms"`
	Verdict    dialect.Outcome     `json:"verdict"`
	Reason     string              `json:"reason"`
	Components []dialect.Component `json:"components,omitempty"`
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

// Observer receives every probe outcome, for metrics. Implementations must
// be cheap and must not block; labels must not include the instance.
type Observer interface {
	ProbeDone(cluster string, probe ProbeName, outcome dialect.Outcome, latency time.Duration)
}
