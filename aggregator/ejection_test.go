package aggregator

import (
	"strings"
	"testing"

	"github.com/vigilhq/vigil/fleet"
	"github.com/vigilhq/vigil/membership"
)

// count returns how many members of cluster are in status st, and how
// many are held by the ejection cap.
func (h *harness) count(cluster string, st membership.Status) (n, held int) {
	for _, m := range h.members(cluster) {
		if m.Status == st {
			n++
		}
		if m.Held != nil && m.Held.Cause == membership.HoldMaxEjection {
			held++
		}
	}
	return n, held
}

// TestMaxEjectionPercentCapsACluster: max_ejection_percent 50 on a cluster
// of 10 whose 7 instances die: 5 leave rotation and the 2 that failed last
// stay HEALTHY, held. When one that left recovers, the one held longest
// leaves in its place; a drain answer is never held nor counted; once all
// recover, nothing is held.
func TestMaxEjectionPercentCapsACluster(t *testing.T) {
	f := startFleet(t, 10)
	h := newHarness(t, exactStarts)
	c := fleetCluster("web", f, 0, 10)
	c.MaxEjectionPercent = 50
	h.apply(c)
	h.firstRound(10)
	ids := make([]string, 10)
	for i, in := range f.Instances() {
		ids[i] = in.ID
	}

	setAll(t, f, 0, 7, fleet.StateDead) // one cluster: the fail-safe does not trip
	h.rounds(4, 10)
	if out, held := h.count("web", membership.StatusUnhealthy); out != 5 || held != 2 {
		t.Fatalf("%d UNHEALTHY and %d held, want 5 and 2", out, held)
	}
	for i := range 7 {
		m := h.member("web", ids[i])
		switch {
		case i < 5 && m.Status != membership.StatusUnhealthy:
			t.Errorf("%s (failed early): %s, want UNHEALTHY", m.ID, m.Status)
		case i >= 5 && (m.Status != membership.StatusHealthy || m.Held == nil || m.Held.Reason != "max_ejection_percent 50: 5 of 10 out"):
			t.Errorf("%s (failed last): %s held %+v, want HEALTHY held", m.ID, m.Status, m.Held)
		}
	}
	if h.store.FailSafe().Holding {
		t.Error("the fail-safe tripped on one cluster")
	}

	// One that is out comes back (after healthy_threshold passes): at
	// once, before its own next probe, the one held longest (5) leaves in
	// its place; 6 stays held.
	setAll(t, f, 0, 1, fleet.StateReady)
	h.rounds(1, 10)
	h.advance(roundStep(10), 1) // 0's second pass, and no other probe
	h.waitFor("5 out again", func() bool {
		out, held := h.count("web", membership.StatusUnhealthy)
		return out == 5 && held == 1
	})
	if m := h.member("web", ids[0]); m.Status != membership.StatusHealthy {
		t.Errorf("%s recovered but shows %s", m.ID, m.Status)
	}
	if m := h.member("web", ids[5]); m.Status != membership.StatusUnhealthy || m.Held != nil ||
		!strings.Contains(m.Reason, "in a row") {
		t.Errorf("%s (held longest): %s %q held %+v, want UNHEALTHY", m.ID, m.Status, m.Reason, m.Held)
	}
	if m := h.member("web", ids[6]); m.Status != membership.StatusHealthy || m.Held == nil {
		t.Errorf("%s: %s held %+v, want still held", m.ID, m.Status, m.Held)
	}

	// A drain answer at the cap: out at once, not held, not counted.
	setAll(t, f, 7, 8, fleet.StateDraining)
	h.rounds(1, 10)
	if m := h.member("web", ids[7]); m.Status != membership.StatusDraining || m.Held != nil {
		t.Errorf("%s: %s held %+v, want DRAINING", m.ID, m.Status, m.Held)
	}
	if out, held := h.count("web", membership.StatusUnhealthy); out != 5 || held != 1 {
		t.Errorf("after a drain: %d UNHEALTHY and %d held, want 5 and 1", out, held)
	}

	// Everyone recovers: nothing held.
	setAll(t, f, 0, 10, fleet.StateReady)
	h.rounds(3, 10)
	h.waitFor("all back", func() bool {
		n, held := h.count("web", membership.StatusHealthy)
		return n == 10 && held == 0
	})
}

// TestMaxEjectionCountsRestoredInstances: after a restart, instances
// restored UNHEALTHY for failed probes count against the cap from the
// start: the first probe of an instance restored HEALTHY, failing (with
// unhealthy_threshold 1), finds the cap reached and is held.
func TestMaxEjectionCountsRestoredInstances(t *testing.T) {
	f := startFleet(t, 10)
	ids := make([]string, 10)
	for i, in := range f.Instances() {
		ids[i] = in.ID
	}
	r := &restoring{members: map[string]membership.Member{}}
	for i, id := range ids {
		switch {
		case i >= 1 && i <= 5: // out before the restart, still dead
			r.members[id] = restoredAs(membership.StatusUnhealthy, membership.PhaseFailing, "readiness: connect: connection refused (3 in a row)")
		default:
			r.members[id] = restoredAs(membership.StatusHealthy, membership.PhasePassing, "readiness: 200 (2 in a row)")
		}
	}
	setAll(t, f, 0, 6, fleet.StateDead) // 0 died while vigil was down
	h := newHarness(t, exactStarts, r.option)
	c := fleetCluster("web", f, 0, 10)
	c.MaxEjectionPercent = 50
	c.Readiness.UnhealthyThreshold = 1
	h.apply(c)
	h.settle(0, 1) // 0's first probe: refused
	h.waitFor("0 decided", func() bool {
		return h.member("web", ids[0]).Held != nil || h.member("web", ids[0]).Status != membership.StatusHealthy
	})
	if m := h.member("web", ids[0]); m.Status != membership.StatusHealthy || m.Held == nil ||
		m.Held.Reason != "max_ejection_percent 50: 5 of 10 out" {
		t.Fatalf("%s: %s held %+v, want HEALTHY held (5 restored out already)", m.ID, m.Status, m.Held)
	}
}
