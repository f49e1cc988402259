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
