package aggregator

import (
	"sync"
	"time"

	"github.com/vigilhq/vigil/aggregator/dialect"
	"github.com/vigilhq/vigil/aggregator/probe"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// instance is the aggregator's live state for one member of a cluster.
type instance struct {
	cluster string
	spec    *upstreams.Cluster

	mu     sync.Mutex // guards everything below
	inst   upstreams.Instance
	live   *target
	ready  *target
	status membership.Status
	reason string
	since  time.Time
	// reasonBy and reasonText are the probe and verdict reason that reason
	// tells ("": not a probe's, e.g. a manual drain or no result yet).
	reasonBy   membership.ProbeName
	reasonText string
	override   *membership.Override
	// verdict is the one last queued for the store: a change of it alone
	// (a probe that does not decide the status changed phase) is
	// published too, since restores and replicas read it.
	verdict  membership.Verdict
	restored bool            // started from its last published member (Options.Restore)
	run      runner          // which probes are out, which wait
	checkers []probe.Checker // one per distinct probe address

	// The fail-safe and the ejection cap (failsafe.go, ejection.go).
	// held is published with the member: its status is held against what
	// its machines say, or its failures are not counted. unreach: some
	// probe's latest result failed at connection level (the guard knows
	// it through guardMark). ejected mirrors the ejector's view of it, so
	// that a probe result consults the ejector only when that changes.
	held      *membership.Hold
	unreach   bool
	guardMark *guardMark
	// beforeOnset is the machines as they stood when the instance, in
	// rotation, began to fail at connection level: where a trip of the
	// fail-safe soon after puts it back.
	beforeOnset onsetPoint
	ej          *ejector // the cluster's
	ejMark      *ejectMark
	ejected     ejectState
}

// target is one probe (liveness or readiness) of one instance.
type target struct {
	inst    *instance
	name    membership.ProbeName
	spec    *upstreams.Probe
	req     *probe.Request
	checker probe.Checker
	async   probe.AsyncChecker // nil: this probe always blocks a worker
	// sibling is the instance's other probe when both can go out together
	// on one connection (same address, both on the poller); pairSpan is
	// how long before its own due this probe may go along with it: its
	// jitter span.
	sibling  *target
	pairSpan time.Duration
	eval     dialect.Evaluator

	// Guarded by the instance's mu.
	m       machine
	unreach bool // the latest result failed at connection level (probe.Classify)
	hist    [membership.HistorySize]membership.ProbeResult
	histN   int
	histPos int // where the next result goes

	// Owned by whoever runs the probe (the instance is busy for it).
	flight      probe.Flight
	flightStart time.Time
	pairedWith  *target // the sibling to run with it in one write on a worker (see submitPair)
	jitterDraw  float64 // drawn with the sibling for the next period, in (0, 1]; 0: none

	// Guarded by the scheduler's mu.
	due     time.Time
	dueKey  int64 // due in Unix nanoseconds, the heap's order
	heapIdx int   // -1 when not queued
	first   bool
}

func (t *target) record(r membership.ProbeResult) {
	t.hist[t.histPos] = r
	t.histPos = (t.histPos + 1) % membership.HistorySize
	if t.histN < membership.HistorySize {
		t.histN++
	}
}

// history returns results newest first.
func (t *target) history() []membership.ProbeResult {
	out := make([]membership.ProbeResult, t.histN)
	for i := range out {
		out[i] = t.hist[(t.histPos-1-i+2*membership.HistorySize)%membership.HistorySize]
	}
	return out
}

func (t *target) state(next time.Time) *membership.ProbeState {
	if t == nil {
		return nil
	}
	return &membership.ProbeState{
		Probe:                t.name,
		State:                t.m.phase.String(),
		ConsecutiveSuccesses: int(t.m.successes),
		ConsecutiveFailures:  int(t.m.failures),
		NextProbe:            next,
		History:              t.history(),
	}
}

// member is the instance as published. Caller holds i.mu.
func (i *instance) member() membership.Member {
	return membership.Member{Instance: i.inst, Status: i.status, Reason: i.reason, Since: i.since,
		Override: i.override, Verdict: verdictOf(i.machines()), Held: i.held}
}

func (i *instance) machines() (live, ready *machine) {
	if i.live != nil {
		live = &i.live.m
	}
	if i.ready != nil {
		ready = &i.ready.m
	}
	return live, ready
}

// onsetPoint is an instance's machines at the onset of connection-level
// failures; ok is false when there is nothing to go back to (it was not
// in rotation, or it answered since).
type onsetPoint struct {
	ok          bool
	live, ready machine
}
