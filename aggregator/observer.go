package aggregator

import (
	"time"

	"github.com/vigilhq/vigil/membership"
)

// Observer receives every probe outcome, for metrics. Implementations must
// be cheap and must not block; labels must not include the instance.
type Observer interface {
	ProbeDone(cluster string, probe membership.ProbeName, outcome membership.Outcome, latency time.Duration)
}

// SkipObserver, when the Observer implements it too, counts the probes
// skipped for a fault of vigil's own, by cause (a probe.SkipCause).
type SkipObserver interface {
	ProbeSkipped(cause string)
}
