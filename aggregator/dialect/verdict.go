package dialect

import "github.com/vigilhq/vigil/membership"

// Verdict is a response read through a dialect.
type Verdict struct {
	Outcome    membership.Outcome
	Reason     string                 // short, human: "503 not_ready, checks.queue=unavailable"
	Components []membership.Component // shared and immutable once returned
}
