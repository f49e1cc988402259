package membership

import "time"

// FailSafe is vigil's global hold. While Holding, probes are failing at
// connection level across much of the fleet at once, which is far more
// likely vigil's own network than the fleet: the instances that failed
// that way keep their published status (Member.Held) and vigil is not
// ready (/readyz names Reason).
type FailSafe struct {
	Holding bool      `json:"holding"`
	Reason  string    `json:"reason,omitempty"` // why it holds (or why it let go)
	Since   time.Time `json:"since,omitzero"`   // when Holding last changed
}

// FailSafe returns the fail-safe's current state.
func (s *Store) FailSafe() FailSafe {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.failSafe
}

// SetFailSafe records the fail-safe's new state with events (an
// EventFailSafe at each change) and wakes subscribers.
func (s *Store) SetFailSafe(fs FailSafe, events []Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failSafe = fs
	s.version++
	s.publishLocked(nil, "", events)
}
