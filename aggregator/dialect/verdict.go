package dialect

import "encoding/json"

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

// Verdict is a response read through a dialect.
type Verdict struct {
	Outcome    Outcome
	Reason     string      // short, human: "503 not_ready, checks.queue=unavailable"
	Components []Component // shared and immutable once returned
}
