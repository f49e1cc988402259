package aggregator

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/seedtest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// TestThresholdTimingAgainstARealServer drives a /readyz engine through
// ready, not ready, ready and draining, and checks each transition's time
// exactly: fall after 3 failures at 1 s, rise after 2 passes at the 5 s
// unhealthy interval, drain on the first draining answer.
func TestThresholdTimingAgainstARealServer(t *testing.T) {
	t.Run("poller", func(t *testing.T) { testThresholdTiming(t, false) })
	t.Run("blocking", func(t *testing.T) { testThresholdTiming(t, true) })
}

func testThresholdTiming(t *testing.T, blocking bool) {
	srv := seedtest.NewServer(t, seedtest.HealthzReady)
	h := newHarness(t, blockingProbes(blocking))
	h.apply(upstreams.Cluster{Name: "engine", InitialStatus: upstreams.InitialUnhealthy,
		Readiness: httpProbe("/readyz", upstreams.DialectHealthz),
		Instances: []upstreams.Instance{{ID: "e1", Address: srv.Addr()}}})
	h.settle(0, 1) // first probe at t0
	srv.Set(seedtest.HealthzNotReady)
	for range 3 {
		h.advance(time.Second, 1)
	}
	srv.Set(seedtest.HealthzReady)
	h.advance(5*time.Second, 1) // unhealthy interval
	h.advance(5*time.Second, 1)
	srv.Set(seedtest.HealthzDraining)
	h.advance(time.Second, 1)

	got := h.transitions()
	want := []struct {
		at       time.Duration
		from, to membership.Status
		reason   string
	}{
		{0, membership.StatusUnhealthy, membership.StatusHealthy, "readiness: 200 ready (1 in a row)"},
		{3 * time.Second, membership.StatusHealthy, membership.StatusUnhealthy, "readiness: 503 not_ready, checks.queue=unavailable (3 in a row)"},
		{13 * time.Second, membership.StatusUnhealthy, membership.StatusHealthy, "readiness: 200 ready (2 in a row)"},
		{14 * time.Second, membership.StatusHealthy, membership.StatusDraining, "readiness: 503 not_ready draining"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d transitions, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Time.Sub(t0) != w.at || g.From != w.from || g.To != w.to || g.Reason != w.reason {
			t.Errorf("transition %d: got %v %s->%s %q, want %v %s->%s %q", i, g.Time.Sub(t0), g.From, g.To, g.Reason,
				w.at, w.from, w.to, w.reason)
		}
	}
	if m := h.member("engine", "e1"); m.Status != membership.StatusDraining {
		t.Errorf("store says %s", m.Status)
	}
	// One keep-alive connection served every probe.
	if srv.Accepts() != 1 {
		t.Errorf("server accepted %d connections, want 1", srv.Accepts())
	}
}

// TestEverySeedFormatEndToEnd probes a real server for each seed response
// and checks the published status.
func TestEverySeedFormatEndToEnd(t *testing.T) {
	cases := []struct {
		seed    seedtest.Response
		dialect upstreams.Dialect
		want    membership.Status
	}{
		{seedtest.DynamoFrontendNoWorkers, upstreams.DialectDynamo, membership.StatusUnhealthy},
		{seedtest.DynamoFrontendHealthy, upstreams.DialectDynamo, membership.StatusHealthy},
		{seedtest.DynamoWorkerNotReady, upstreams.DialectDynamo, membership.StatusUnhealthy},
		{seedtest.DynamoWorkerReady, upstreams.DialectAuto, membership.StatusHealthy},
		{seedtest.HealthzDraining, upstreams.DialectHealthz, membership.StatusDraining},
		{seedtest.HealthzNotReady, upstreams.DialectAuto, membership.StatusUnhealthy},
		{seedtest.NativeLinkWarning, upstreams.DialectNativeLink, membership.StatusDegraded},
		{seedtest.NativeLinkFailed, upstreams.DialectAuto, membership.StatusUnhealthy},
		{seedtest.NativeLinkEmpty, upstreams.DialectNativeLink, membership.StatusHealthy},
		{seedtest.AMSDALSuccess, upstreams.DialectAMSDAL, membership.StatusHealthy},
		{seedtest.AMSDALError, upstreams.DialectAMSDAL, membership.StatusUnhealthy},
	}
	h := newHarness(t)
	var insts []upstreams.Instance
	var clusters []upstreams.Cluster
	for i, c := range cases {
		srv := seedtest.NewServer(t, c.seed)
		insts = append(insts, upstreams.Instance{ID: c.seed.Name, Address: srv.Addr()})
		clusters = append(clusters, upstreams.Cluster{Name: fmt.Sprintf("c%d", i), InitialStatus: upstreams.InitialUnknown,
			Readiness: httpProbe("/", c.dialect), Instances: insts[i : i+1]})
	}
	h.apply(clusters...)
	h.clock.Advance(time.Second) // first probes are spread over one interval
	select {
	case <-h.agg.FirstRound():
	case <-time.After(5 * time.Second):
		t.Fatal("first round not done")
	}
	for i, c := range cases {
		m := h.member(fmt.Sprintf("c%d", i), c.seed.Name)
		if m.Status != c.want {
			t.Errorf("%s (%s): published %s (%s), want %s", c.seed.Name, c.dialect, m.Status, m.Reason, c.want)
		}
	}
}

// TestLivenessFailureBeatsReadiness: a Dynamo worker whose readiness passes
// but whose liveness port refuses connections is unhealthy after fall failures.
func TestLivenessFailureBeatsReadiness(t *testing.T) {
	srv := seedtest.NewServer(t, seedtest.DynamoWorkerReady)
	h := newHarness(t)
	live := httpProbe("/live", upstreams.DialectDynamo)
	live.Port = 1 // nothing listens on port 1
	h.apply(upstreams.Cluster{Name: "w", InitialStatus: upstreams.InitialUnhealthy,
		Liveness: live, Readiness: httpProbe("/health", upstreams.DialectDynamo),
		Instances: []upstreams.Instance{{ID: "w1", Address: srv.Addr()}}})
	h.settle(0, 2) // both probes start together at t0: liveness fails, readiness passes
	if m := h.member("w", "w1"); m.Status != membership.StatusHealthy {
		t.Fatalf("after one liveness failure: %s (%s), want HEALTHY", m.Status, m.Reason)
	}
	// Liveness keeps failing, readiness passing: the instance falls on the
	// third. Until then readiness decides, so its reason stays published
	// and nothing is written.
	v := h.store.Version()
	h.advance(time.Second, 2)
	if m := h.member("w", "w1"); m.Status != membership.StatusHealthy || !strings.HasPrefix(m.Reason, "readiness: ") {
		t.Fatalf("after two liveness failures: %s (%s), want HEALTHY with readiness's reason", m.Status, m.Reason)
	}
	if h.store.Version() != v {
		t.Error("a liveness failure below its threshold changed the published member")
	}
	h.advance(time.Second, 2)
	m := h.member("w", "w1")
	if m.Status != membership.StatusUnhealthy || !strings.HasPrefix(m.Reason, "liveness: ") || !strings.HasSuffix(m.Reason, "(3 in a row)") {
		t.Errorf("got %s %q, want UNHEALTHY from liveness", m.Status, m.Reason)
	}
	d, err := h.agg.Instance("w", "w1")
	if err != nil {
		t.Fatal(err)
	}
	if d.Liveness.ConsecutiveFailures != 3 || d.Readiness.ConsecutiveSuccesses != 3 || len(d.Readiness.History) != 3 {
		t.Errorf("detail: %+v %+v", d.Liveness, d.Readiness)
	}
	if d.Readiness.History[0].HTTPStatus != 200 || len(d.Readiness.History[0].Components) != 3 {
		t.Errorf("readiness history: %+v", d.Readiness.History[0])
	}
}

// An instance's liveness and readiness on one address start together and
// then go out in one write each round, on one connection, each with its own
// result.
func TestAnInstancesProbesGoOutTogether(t *testing.T) {
	srv := seedtest.NewServer(t, seedtest.HealthzReady)
	h := newHarness(t)
	h.apply(upstreams.Cluster{Name: "api", InitialStatus: upstreams.InitialUnhealthy,
		Liveness: httpProbe("/healthz", upstreams.DialectHealthz), Readiness: httpProbe("/readyz", upstreams.DialectHealthz),
		Instances: []upstreams.Instance{{ID: "a1", Address: srv.Addr()}}})
	h.settle(0, 2) // both at t0: the first dials, the second follows on the kept connection
	if srv.Batched() != 0 {
		t.Fatalf("%d requests batched before the connection was kept", srv.Batched())
	}
	for range 5 {
		h.advance(time.Second, 2)
	}
	if srv.Accepts() != 1 || srv.Requests() != 12 || srv.Batched() != 5 {
		t.Fatalf("accepts %d, requests %d, batched %d: want 12 requests on one connection, the last 5 rounds each in one read",
			srv.Accepts(), srv.Requests(), srv.Batched())
	}
	d, err := h.agg.Instance("api", "a1")
	if err != nil {
		t.Fatal(err)
	}
	if d.Member.Status != membership.StatusHealthy || d.Liveness.ConsecutiveSuccesses != 6 || d.Readiness.ConsecutiveSuccesses != 6 ||
		!d.Liveness.NextProbe.Equal(d.Readiness.NextProbe) {
		t.Fatalf("detail: %s, liveness %+v, readiness %+v", d.Member.Status, d.Liveness, d.Readiness)
	}
}

// TestApplyKeepsUnchangedInstances: a reload that adds and removes
// instances leaves the others' state, connection and schedule alone.
func TestApplyKeepsUnchangedInstances(t *testing.T) {
	a := seedtest.NewServer(t, seedtest.HealthzReady)
	b := seedtest.NewServer(t, seedtest.HealthzReady)
	h := newHarness(t)
	cluster := func(insts ...upstreams.Instance) upstreams.Cluster {
		return upstreams.Cluster{Name: "api", InitialStatus: upstreams.InitialUnhealthy,
			Readiness: httpProbe("/readyz", upstreams.DialectHealthz), Instances: insts}
	}
	ia := upstreams.Instance{ID: "a", Address: a.Addr(), Weight: 1}
	ib := upstreams.Instance{ID: "b", Address: b.Addr(), Weight: 1}
	h.apply(cluster(ia))
	h.settle(0, 1)
	before := h.member("api", "a")
	dueBefore, _ := h.agg.Instance("api", "a")

	ia.Weight = 5
	h.apply(cluster(ia, ib))
	after := h.member("api", "a")
	dueAfter, _ := h.agg.Instance("api", "a")
	if after.Status != membership.StatusHealthy || !after.Since.Equal(before.Since) || after.Weight != 5 {
		t.Errorf("a after reload: %+v (before %+v)", after, before)
	}
	if !dueAfter.Readiness.NextProbe.Equal(dueBefore.Readiness.NextProbe) {
		t.Errorf("a's schedule moved: %v -> %v", dueBefore.Readiness.NextProbe, dueAfter.Readiness.NextProbe)
	}
	added := h.store.Events(membership.EventQuery{Instance: "b", Limit: 100})
	if len(added) == 0 || added[len(added)-1].Kind != membership.EventAdded || added[len(added)-1].To != membership.StatusUnhealthy {
		t.Errorf("b's first event %+v, want added as its initial status", added)
	}
	h.advance(time.Second, 2)
	if a.Accepts() != 1 {
		t.Errorf("a reconnected: %d accepts", a.Accepts())
	}
	h.apply(cluster(ib))
	if _, ok := func() (*membership.Member, bool) { c, _ := h.store.Cluster("api"); return c.Member("a") }(); ok {
		t.Error("a still published after removal")
	}
	evs := h.store.Events(membership.EventQuery{Cluster: "api"})
	if len(evs) == 0 || evs[0].Kind != membership.EventRemoved || evs[0].Instance != "a" {
		t.Errorf("newest event %+v, want a removed", evs[0])
	}
	h.apply()
	if len(h.store.Clusters()) != 0 {
		t.Error("cluster still published after removal")
	}
	if _, err := h.agg.Instance("api", "b"); !errors.Is(err, membership.ErrNotFound) {
		t.Errorf("removed instance lookup: %v", err)
	}
}

// TestManualDrainOverridesProbesUntilTTL.
func TestManualDrainOverridesProbesUntilTTL(t *testing.T) {
	srv := seedtest.NewServer(t, seedtest.HealthzReady)
	h := newHarness(t)
	h.apply(readyzCluster(srv.Addr()))
	h.settle(0, 1)
	err := h.agg.SetOverride("api", "a", &membership.Override{Reason: "kernel upgrade", By: "alice", Expires: t0.Add(10 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	m := h.member("api", "a")
	if m.Status != membership.StatusDraining || m.Override == nil || m.Reason != "manual drain: kernel upgrade" {
		t.Fatalf("after drain: %+v", m)
	}
	h.advance(time.Second, 1)
	if m := h.member("api", "a"); m.Status != membership.StatusDraining {
		t.Fatalf("passing probe ended the drain: %s", m.Status)
	}
	for range 9 {
		h.advance(time.Second, 1)
	}
	if m := h.member("api", "a"); m.Status != membership.StatusHealthy || m.Override != nil {
		t.Fatalf("after ttl: %+v", m)
	}
	evs := h.transitions()
	if len(evs) != 3 || evs[1].Kind != membership.EventOverride || evs[1].By != "alice" || evs[2].By != "ttl" {
		t.Errorf("events: %+v", evs)
	}
	if err := h.agg.SetOverride("api", "nope", nil); !errors.Is(err, membership.ErrNotFound) {
		t.Errorf("unknown instance: %v", err)
	}
}

// TestFirstProbesAreSpreadOverTheInterval: 100 new instances are not all
// probed at once; their first probes are due a hundredth of the interval
// apart. (A dispatch window would start the second with the first: this
// test looks at exact start times.)
func TestFirstProbesAreSpreadOverTheInterval(t *testing.T) {
	srv := seedtest.NewServer(t, seedtest.HealthzReady)
	h := newHarness(t, exactStarts)
	var insts []upstreams.Instance
	for i := range 100 {
		insts = append(insts, upstreams.Instance{ID: fmt.Sprint(i), Address: srv.Addr()})
	}
	h.apply(upstreams.Cluster{Name: "many", Readiness: httpProbe("/readyz", upstreams.DialectHealthz), Instances: insts})
	h.settle(0, 1) // only the first is due at t0
	for i, in := range insts[1:] {
		d, err := h.agg.Instance("many", in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := t0.Add(time.Duration(i+1) * 10 * time.Millisecond); len(d.Readiness.History) != 0 || !d.Readiness.NextProbe.Equal(want) {
			t.Fatalf("instance %s: %d results, next probe at %s, want none yet and +%s", in.ID, len(d.Readiness.History),
				d.Readiness.NextProbe.Sub(t0), want.Sub(t0))
		}
	}
	h.advance(500*time.Millisecond, 50) // half the interval: half the instances
	h.advance(500*time.Millisecond, 50)
	select {
	case <-h.agg.FirstRound():
	case <-time.After(5 * time.Second):
		t.Fatal("first round not done after one interval")
	}
}

// TestManualDrainSurvivesAProbeChange: a reload that changes a cluster's
// probes rebuilds its instances but keeps their manual drains.
func TestManualDrainSurvivesAProbeChange(t *testing.T) {
	srv := seedtest.NewServer(t, seedtest.HealthzReady)
	h := newHarness(t)
	c := upstreams.Cluster{Name: "api", InitialStatus: upstreams.InitialUnhealthy,
		Readiness: httpProbe("/readyz", upstreams.DialectHealthz),
		Instances: []upstreams.Instance{{ID: "a", Address: srv.Addr()}, {ID: "b", Address: srv.Addr()}}}
	h.apply(c)
	if err := h.agg.SetOverride("api", "a", &membership.Override{Reason: "maintenance"}); err != nil {
		t.Fatal(err)
	}
	c.Readiness = httpProbe("/readyz", upstreams.DialectAuto)
	h.apply(c)
	if m := h.member("api", "a"); m.Status != membership.StatusDraining || m.Override == nil {
		t.Fatalf("after probe change: %+v", m)
	}
	h.clock.Advance(time.Second)
	// Probes of the instances the reload replaced may complete too: wait
	// for a result from each rebuilt instance, not for a count.
	for _, id := range []string{"a", "b"} {
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			d, err := h.agg.Instance("api", id)
			if err == nil && d.Readiness != nil && len(d.Readiness.History) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no probe result after the reload", id)
			}
		}
	}
	h.agg.commits.commit() // a result is enqueued with its record; the poller commits after its round
	if m := h.member("api", "a"); m.Status != membership.StatusDraining {
		t.Errorf("passing probe ended the carried drain: %s", m.Status)
	}
	if m := h.member("api", "b"); m.Status != membership.StatusHealthy {
		t.Errorf("b: %s", m.Status)
	}
}
