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
