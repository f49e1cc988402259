package membership

import (
	"time"

	"github.com/vigilhq/vigil/upstreams"
)

// Member is one instance as published. Members are immutable once in a snapshot.
type Member struct {
	upstreams.Instance
	Status Status
	Reason string
	Since  time.Time // when Status last changed
	// Verdict is what the probes concluded, behind Status.
	Verdict Verdict
	// Override is set while a manual drain holds the instance.
	Override *Override
	// Held is set while Status is not what Verdict decides: the probes say
	// the instance should leave rotation, and vigil keeps publishing its
	// previous status instead (see Hold). Nil: Status follows Verdict.
	Held *Hold
}

// HoldCause says why vigil holds an instance's status.
type HoldCause string

// Hold causes.
const (
	// HoldFailSafe: probes are failing at connection level across the
	// fleet at once, which points at vigil's own network (FailSafe).
	HoldFailSafe HoldCause = "fail_safe"
	// HoldMaxEjection: the cluster's max_ejection_percent of instances is
	// already out of rotation for failed probes.
	HoldMaxEjection HoldCause = "max_ejection_percent"
)

// HoldCauses lists every hold cause.
var HoldCauses = []HoldCause{HoldFailSafe, HoldMaxEjection}

// Hold is why and since when a member's published status is held.
type Hold struct {
	Cause  HoldCause `json:"cause"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

// Override is a manual drain of an instance, set through the admin API.
type Override struct {
	Reason  string    `json:"reason"`
	By      string    `json:"by"`
	Since   time.Time `json:"since"`
	Expires time.Time `json:"expires,omitzero"` // zero: until undrained
}

// Equal reports whether o and p are the same drain (times compared as
// instants, so a drain read back from JSON equals the one written).
func (o Override) Equal(p Override) bool {
	return o.Reason == p.Reason && o.By == p.By && o.Since.Equal(p.Since) && o.Expires.Equal(p.Expires)
}

// Active reports whether the override holds at time now.
func (o *Override) Active(now time.Time) bool {
	return o != nil && (o.Expires.IsZero() || now.Before(o.Expires))
}

// ClusterSnapshot is one immutable version of a cluster's membership.
// Members are sorted by ID. Never modify a snapshot you were handed, nor a
// member in it: snapshots share the members that did not change, so a
// change copies one member and the pointer list, not every member.
type ClusterSnapshot struct {
	Name    string
	Version uint64 // store-wide sequence number of the change that made it
	Spec    *upstreams.Cluster
	Members []*Member
}

// NewSnapshot returns a snapshot of spec's cluster holding members (sorted
// by ID here), outside any Store (version 0): for building what a
// publisher would from a membership given by hand.
func NewSnapshot(spec *upstreams.Cluster, members []Member) *ClusterSnapshot {
	sortMembers(members)
	ptrs := make([]*Member, len(members))
	for i := range members {
		ptrs[i] = &members[i]
	}
	return &ClusterSnapshot{Name: spec.Name, Spec: spec, Members: ptrs}
}

// Counts returns how many members are in each status.
func (c *ClusterSnapshot) Counts() map[Status]int {
	out := make(map[Status]int, len(Statuses))
	for _, s := range Statuses {
		out[s] = 0
	}
	for i := range c.Members {
		out[c.Members[i].Status]++
	}
	return out
}

// Member finds a member by ID.
func (c *ClusterSnapshot) Member(id string) (*Member, bool) {
	lo, hi := 0, len(c.Members)
	for lo < hi {
		m := (lo + hi) / 2
		if c.Members[m].ID < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(c.Members) && c.Members[lo].ID == id {
		return c.Members[lo], true
	}
	return nil, false
}

// EventKind says what an event records.
type EventKind string

// Event kinds.
const (
	EventTransition EventKind = "transition" // published status changed
	EventAdded      EventKind = "added"      // instance appeared
	EventRemoved    EventKind = "removed"    // instance left
	EventOverride   EventKind = "override"   // manual drain set or cleared
	// EventFailSafe: vigil's fail-safe began or ended holding (no cluster
	// or instance; Reason says which and why).
	EventFailSafe EventKind = "fail_safe"
)

// Event is one membership change, as history and as a live stream.
type Event struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Kind     EventKind `json:"kind"`
	Cluster  string    `json:"cluster"`
	Instance string    `json:"instance"`
	Address  string    `json:"address"`
	From     Status    `json:"from"`
	To       Status    `json:"to"`
	Reason   string    `json:"reason"`
	By       string    `json:"by,omitempty"` // who, for overrides
}
