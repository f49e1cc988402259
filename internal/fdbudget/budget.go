package fdbudget

import (
	"fmt"
	"sync/atomic"
)

// State is where a Budget stands.
type State int

const (
	// Fits: kept slots are free; an instance address that dials now keeps
	// its connection.
	Fits State = iota
	// KeptFull: every kept slot is held; instance addresses that dial now
	// are probed on short-lived connections.
	KeptFull
	// Exhausted: every kept and every short-lived slot is held; a probe
	// that needs a new connection now is skipped.
	Exhausted
)

func (s State) String() string {
	switch s {
	case Fits:
		return "fits"
	case KeptFull:
		return "kept_full"
	case Exhausted:
		return "exhausted"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Budget hands out the probe slots of a Plan. Its methods take no lock
// and make no system call; they are safe for concurrent use. A nil
// *Budget is unlimited: every Keep and Short succeeds.
type Budget struct {
	plan   Plan
	kept   atomic.Int64 // kept slots held
	short  atomic.Int64 // short-lived slots held
	opened atomic.Uint64
	denied atomic.Uint64
}

// New returns a Budget dividing p.
func New(p Plan) *Budget { return &Budget{plan: p} }

// Plan is the division the Budget hands out.
func (b *Budget) Plan() Plan {
	if b == nil {
		return Plan{}
	}
	return b.plan
}

// Keep takes a kept slot, if one is free: the caller may keep one
// connection open until it calls Unkeep.
func (b *Budget) Keep() bool {
	if b == nil {
		return true
	}
	return take(&b.kept, int64(b.plan.Kept))
}

// Unkeep gives back a slot Keep took.
func (b *Budget) Unkeep() {
	if b != nil {
		give(&b.kept)
	}
}

// Short takes a short-lived slot, if one is free: the caller may open one
// connection for a probe and must call Unshort once it is closed. A
// refusal is counted (Stats.Denied).
func (b *Budget) Short() bool {
	if b == nil {
		return true
	}
	if !take(&b.short, int64(b.plan.ShortLived)) {
		b.denied.Add(1)
		return false
	}
	b.opened.Add(1)
	return true
}

// Unshort gives back a slot Short took.
func (b *Budget) Unshort() {
	if b != nil {
		give(&b.short)
	}
}

// take adds one to n unless that would pass limit.
func take(n *atomic.Int64, limit int64) bool {
	for {
		cur := n.Load()
		if cur >= limit {
			return false
		}
		if n.CompareAndSwap(cur, cur+1) {
			return true
		}
	}
}

// give takes one from n; giving back a slot never taken is a bug.
func give(n *atomic.Int64) {
	if n.Add(-1) < 0 {
		panic("fdbudget: a slot was given back that was not taken")
	}
}

// State is where the Budget stands now.
func (b *Budget) State() State {
	switch {
	case b == nil || b.kept.Load() < int64(b.plan.Kept):
		return Fits
	case b.short.Load() < int64(b.plan.ShortLived):
		return KeptFull
	}
	return Exhausted
}

// Stats is what a Budget has handed out.
type Stats struct {
	Plan
	KeptInUse       int    // kept slots held
	ShortLivedInUse int    // short-lived slots held
	ShortLivedTotal uint64 // short-lived slots taken since the start
	Denied          uint64 // short-lived slots refused since the start
}

// Stats reads the counters (each exact, the set not one instant).
func (b *Budget) Stats() Stats {
	if b == nil {
		return Stats{}
	}
	return Stats{Plan: b.plan, KeptInUse: int(b.kept.Load()), ShortLivedInUse: int(b.short.Load()),
		ShortLivedTotal: b.opened.Load(), Denied: b.denied.Load()}
}
