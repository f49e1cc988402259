package membership

import (
	"encoding/json"
	"fmt"
)

// Status is an instance's published health. The names and order of the
// values follow Envoy's core.v3.HealthStatus on purpose.
type Status uint8

// Published statuses.
const (
	StatusUnknown   Status = 0
	StatusHealthy   Status = 1
	StatusUnhealthy Status = 2
	StatusDraining  Status = 3
	StatusDegraded  Status = 5
)

// Statuses lists every published status in display order.
var Statuses = []Status{StatusHealthy, StatusDegraded, StatusDraining, StatusUnhealthy, StatusUnknown}

func (s Status) String() string {
	switch s {
	case StatusHealthy:
		return "HEALTHY"
	case StatusUnhealthy:
		return "UNHEALTHY"
	case StatusDraining:
		return "DRAINING"
	case StatusDegraded:
		return "DEGRADED"
	default:
		return "UNKNOWN"
	}
}

// InRotation reports whether traffic should reach an instance in this status.
func (s Status) InRotation() bool { return s == StatusHealthy || s == StatusDegraded }

// ParseStatus reads a status name.
func ParseStatus(name string) (Status, error) {
	for _, s := range Statuses {
		if s.String() == name {
			return s, nil
		}
	}
	return StatusUnknown, fmt.Errorf("unknown status %q", name)
}

// MarshalJSON writes the status name.
func (s Status) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads a status name.
func (s *Status) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return err
	}
	v, err := ParseStatus(name)
	if err != nil {
		return err
	}
	*s = v
	return nil
}
