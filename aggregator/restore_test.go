package aggregator

import (
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/seedtest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// restoring answers Options.Restore from members by instance ID, counting
// how often it is asked.
type restoring struct {
	members map[string]membership.Member
	asked   int
}

func (r *restoring) restore(_ *upstreams.Cluster, in upstreams.Instance) (membership.Member, bool) {
	r.asked++
	m, ok := r.members[in.ID]
	if ok {
		m.Instance = in
	}
	return m, ok
}

func (r *restoring) option(o *Options) { o.Restore = r.restore }

var since = t0.Add(-time.Hour) // when the restored statuses began, before the restart

func restoredAs(status membership.Status, ready membership.Phase, reason string) membership.Member {
	return membership.Member{Status: status, Reason: reason, Since: since,
		Verdict: membership.Verdict{Live: membership.PhaseAbsent, Ready: ready}}
}

// TestRestoredVerdictsAsIfVigilNeverStopped: instances restored at the
// first Apply are published as they were (status, reason, since) before
// any probe, and their thresholds count from the restored phase: a passing
// one survives unhealthy_threshold-1 failures and falls on the last; a
// failing one needs healthy_threshold passes; a drain acts on the first
// answer; one whose probe answers as before writes nothing. An instance
// with nothing restored starts at initial_status, and FirstRound waits for
// it alone.
func TestRestoredVerdictsAsIfVigilNeverStopped(t *testing.T) {
	passingNow := seedtest.NewServer(t, seedtest.HealthzNotReady) // e1: HEALTHY before, fails now
	failingNow := seedtest.NewServer(t, seedtest.HealthzReady)    // e2: UNHEALTHY before, passes now
	fresh := seedtest.NewServer(t, seedtest.HealthzReady)         // e3: nothing restored
	draining := seedtest.NewServer(t, seedtest.HealthzDraining)   // e4: HEALTHY before, drains now
	same := seedtest.NewServer(t, seedtest.HealthzReady)          // e5: HEALTHY before, same answer now
	r := &restoring{members: map[string]membership.Member{
		"e1": restoredAs(membership.StatusHealthy, membership.PhasePassing, "readiness: 200 ready (2 in a row)"),
		"e2": restoredAs(membership.StatusUnhealthy, membership.PhaseFailing, "readiness: 503 not_ready (3 in a row)"),
		"e4": restoredAs(membership.StatusHealthy, membership.PhasePassing, "readiness: 200 ready (2 in a row)"),
		"e5": restoredAs(membership.StatusHealthy, membership.PhasePassing, "readiness: 200 ready (2 in a row)"),
	}}
	h := newHarness(t, r.option, exactStarts)
	c := upstreams.Cluster{Name: "c", InitialStatus: upstreams.InitialUnhealthy, Readiness: httpProbe("/readyz", upstreams.DialectHealthz),
		Instances: []upstreams.Instance{{ID: "e1", Address: passingNow.Addr()}, {ID: "e2", Address: failingNow.Addr()},
			{ID: "e3", Address: fresh.Addr()}, {ID: "e4", Address: draining.Addr()}}}
	s := upstreams.Cluster{Name: "same", InitialStatus: upstreams.InitialUnhealthy, Readiness: httpProbe("/readyz", upstreams.DialectHealthz),
		Instances: []upstreams.Instance{{ID: "e5", Address: same.Addr()}}}
	h.apply(c, s)

	// Before any probe: restored as they were.
	for id, want := range r.members {
		cl := "c"
		if id == "e5" {
			cl = "same"
		}
		m := h.member(cl, id)
		if m.Status != want.Status || m.Reason != want.Reason || !m.Since.Equal(since) || m.Verdict != want.Verdict {
			t.Errorf("%s before any probe: %s %q %s %+v, want %s %q %s %+v", id, m.Status, m.Reason, m.Since, m.Verdict,
				want.Status, want.Reason, since, want.Verdict)
		}
	}
	if m := h.member("c", "e3"); m.Status != membership.StatusUnhealthy || m.Reason != "no probe result yet" {
		t.Errorf("e3 (nothing restored): %s %q, want initial_status", m.Status, m.Reason)
	}
	added := h.store.Events(membership.EventQuery{Instance: "e1"})
	if len(added) != 1 || !strings.Contains(added[0].Reason, "restored") || added[0].To != membership.StatusHealthy {
		t.Errorf("e1's added event: %+v, want one saying it was restored", added)
	}
	select {
	case <-h.agg.FirstRound():
		t.Fatal("FirstRound closed before e3, which has nothing restored, had a result")
	default:
	}
	sameVersion := mustCluster(t, h.store, "same").Version

	// e1's first probe runs at 0, the others' (due from 0.2 to 0.8 s) when
	// the clock jumps to 1 s. Then e1, e3, e4 and e5 probe every second and
	// e2, still failing after one pass, at its unhealthy interval (6 s).
	h.settle(0, 1)
	h.advance(time.Second, 5) // the first round, and e1's second probe
	select {
	case <-h.agg.FirstRound():
	case <-time.After(5 * time.Second):
		t.Fatal("FirstRound not closed after e3's first result")
	}
	want := map[string]membership.Status{"e1": membership.StatusHealthy, "e2": membership.StatusUnhealthy,
		"e3": membership.StatusHealthy, "e4": membership.StatusDraining}
	for id, st := range want {
		if m := h.member("c", id); m.Status != st {
			t.Errorf("%s after its first probe: %s (%s), want %s", id, m.Status, m.Reason, st)
		}
	}
	if v := mustCluster(t, h.store, "same").Version; v != sameVersion {
		t.Errorf("e5, answering as it did before the restart, rewrote its member (version %d -> %d): %+v",
			sameVersion, v, h.member("same", "e5"))
	}

	// e1 fails on (its third failure at 2 s); e2 passes again at 6 s.
	for _, n := range []int{4, 3, 3, 3, 4} {
		h.advance(time.Second, n)
	}
	var e1, e2 []membership.Event
	for _, ev := range h.transitions() {
		switch ev.Instance {
		case "e1":
			e1 = append(e1, ev)
		case "e2":
			e2 = append(e2, ev)
		}
	}
	if len(e1) != 1 || e1[0].To != membership.StatusUnhealthy || e1[0].Time.Sub(t0) != 2*time.Second ||
		!strings.HasSuffix(e1[0].Reason, "(3 in a row)") {
		t.Errorf("e1 transitions: %+v, want one to UNHEALTHY at its third failure (2 s)", e1)
	}
	if len(e2) != 1 || e2[0].To != membership.StatusHealthy || e2[0].Time.Sub(t0) != 6*time.Second ||
		!strings.HasSuffix(e2[0].Reason, "(2 in a row)") {
		t.Errorf("e2 transitions: %+v, want one to HEALTHY at its second pass (6 s)", e2)
	}
	if r.asked != 5 {
		t.Errorf("Restore asked %d times, want once per instance of the first Apply (5)", r.asked)
	}
	h.apply(c, s) // a reload restores nothing
	if r.asked != 5 {
		t.Errorf("a reload asked Restore again (%d)", r.asked)
	}
}

// With every instance restored, FirstRound is closed by the first Apply,
// before any probe.
func TestEveryInstanceRestoredEndsTheFirstRoundAtOnce(t *testing.T) {
	r := &restoring{members: map[string]membership.Member{
		"a": restoredAs(membership.StatusHealthy, membership.PhasePassing, "readiness: 200 ready (2 in a row)")}}
	h := newHarness(t, r.option, exactStarts)
	h.apply(readyzCluster(seedtest.NewServer(t, seedtest.HealthzReady).Addr()))
	select {
	case <-h.agg.FirstRound():
	default:
		t.Fatal("FirstRound still open with every instance restored")
	}
}

func mustCluster(t *testing.T, s *membership.Store, name string) *membership.ClusterSnapshot {
	t.Helper()
	c, ok := s.Cluster(name)
	if !ok {
		t.Fatalf("no cluster %s", name)
	}
	return c
}
