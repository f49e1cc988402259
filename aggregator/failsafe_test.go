package aggregator

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/fleet"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
	"github.com/vigilhq/vigil/xds"
)

// startFleet runs n "status" instances on loopback (real listeners).
func startFleet(t *testing.T, n int) *fleet.Fleet {
	t.Helper()
	f, err := fleet.Start(context.Background(), fleet.Spec{N: n, Formats: []fleet.Format{fleet.FormatStatus}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() }) // test cleanup
	return f
}

// fleetCluster is a cluster of instances [from, to) of f, probed on
// /ready every second (no jitter), falling after 3 failures.
func fleetCluster(name string, f *fleet.Fleet, from, to int) upstreams.Cluster {
	p := &upstreams.Probe{Kind: upstreams.KindHTTP, Scheme: "http", Path: "/ready", Dialect: upstreams.DialectStatus,
		ExpectedStatuses: upstreams.DefaultStatuses, MaxBodyBytes: 64 << 10,
		Timing: upstreams.Timing{Interval: time.Second, UnhealthyInterval: time.Second, Timeout: 500 * time.Millisecond,
			HealthyThreshold: 2, UnhealthyThreshold: 3}}
	c := upstreams.Cluster{Name: name, InitialStatus: upstreams.InitialUnhealthy, Readiness: p, MaxEjectionPercent: 100}
	for _, in := range f.Instances()[from:to] {
		c.Instances = append(c.Instances, upstreams.Instance{ID: in.ID, Address: in.Address})
	}
	return c
}

// setAll flips instances [from, to) of f to s.
func setAll(t *testing.T, f *fleet.Fleet, from, to int, s fleet.State) {
	t.Helper()
	for _, in := range f.Instances()[from:to] {
		if _, err := f.Set(in.ID, s); err != nil {
			t.Fatal(err)
		}
	}
}

// members returns the store's members of a cluster.
func (h *harness) members(cluster string) []*membership.Member {
	h.t.Helper()
	c, ok := h.store.Cluster(cluster)
	if !ok {
		h.t.Fatalf("cluster %s missing", cluster)
	}
	return c.Members
}

// waitFor polls (in real time) until cond holds: the hold loop publishes
// trips, releases and re-decisions on its own goroutine.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// failSafeEvents lists the fail_safe events in the store's history, oldest first.
func (h *harness) failSafeEvents() []membership.Event {
	var out []membership.Event
	for _, ev := range h.store.Events(membership.EventQuery{Limit: 1000}) {
		if ev.Kind == membership.EventFailSafe {
			out = append([]membership.Event{ev}, out...)
		}
	}
	return out
}

// firstRound runs the first probe of each of the instances, one at a
// time: they were spread evenly over the first interval, in the order of
// the clusters and their instances. The next to run is the first one's.
func (h *harness) firstRound(instances int) {
	h.t.Helper()
	h.settle(0, 1)
	for range instances - 1 {
		h.advance(roundStep(instances), 1)
	}
}

// rounds advances the fake clock by n intervals (1 s), one instance's
// turn at a time (after firstRound), so the instances fail (or answer) in
// their order.
func (h *harness) rounds(n, instances int) {
	h.t.Helper()
	for range n * instances {
		h.advance(roundStep(instances), 1)
	}
}

// roundStep is 1 s / instances rounded up, so the k-th step is never
// before the k-th instance's due time (k s / instances, rounded down).
func roundStep(instances int) time.Duration {
	return (time.Second + time.Duration(instances) - 1) / time.Duration(instances)
}

// TestFailSafeHoldsAFleetKilledAtOnce: three clusters' instances all stop
// listening at once while a fourth cluster's start answering 503. Nothing
// of the three leaves rotation in the store, the API or the EDS assignment;
// each is held with its failure as the reason; /readyz is 503 naming the
// fail-safe; the 503 cluster is published UNHEALTHY, not held. When the
// instances listen again the hold ends, and no transition of theirs was
// ever published.
func TestFailSafeHoldsAFleetKilledAtOnce(t *testing.T) {
	killed := startFleet(t, 24)
	answering := startFleet(t, 4)
	h := newHarness(t, exactStarts)
	clusters := []upstreams.Cluster{fleetCluster("a", killed, 0, 8), fleetCluster("b", killed, 8, 16),
		fleetCluster("c", killed, 16, 24), fleetCluster("d", answering, 0, 4)}
	h.apply(clusters...)
	const n = 28
	h.firstRound(n)
	for _, c := range []string{"a", "b", "c", "d"} {
		for _, m := range h.members(c) {
			if m.Status != membership.StatusHealthy {
				t.Fatalf("%s/%s: %s before the kill", c, m.ID, m.Status)
			}
		}
	}
	srv := httptest.NewServer(api.New(api.Options{Store: h.store}).Handler())
	defer srv.Close()

	before := len(h.transitions())
	setAll(t, killed, 0, 24, fleet.StateDead)
	setAll(t, answering, 0, 4, fleet.StateNotReady)
	h.rounds(5, n)

	h.waitFor("the fail-safe's trip in the store", func() bool { return h.store.FailSafe().Holding })
	fs := h.store.FailSafe()
	if !strings.Contains(fs.Reason, "of 28 instances") || !strings.Contains(fs.Reason, "stopped answering at connection level within 1.5s") {
		t.Errorf("fail-safe reason = %q", fs.Reason)
	}
	for _, c := range []string{"a", "b", "c"} {
		for _, m := range h.members(c) {
			if m.Status != membership.StatusHealthy || m.Held == nil || m.Held.Cause != membership.HoldFailSafe ||
				!strings.Contains(m.Held.Reason, "connection refused") {
				t.Errorf("%s/%s: %s held %+v, want HEALTHY held by the fail-safe", c, m.ID, m.Status, m.Held)
			}
		}
		cla := xds.BuildAssignment(mustCluster(t, h.store, c))
		for _, l := range cla.GetEndpoints() {
			for _, e := range l.GetLbEndpoints() {
				md := e.GetMetadata().GetFilterMetadata()[xds.MetadataKey].GetFields()
				if e.GetHealthStatus().String() != "HEALTHY" || !md["held"].GetBoolValue() {
					t.Errorf("EDS %s: %s %v", c, e.GetHealthStatus(), md)
				}
			}
		}
	}
	for _, m := range h.members("d") {
		if m.Status != membership.StatusUnhealthy || m.Held != nil {
			t.Errorf("d/%s: %s held %+v, want UNHEALTHY (it answered 503) and not held", m.ID, m.Status, m.Held)
		}
	}
	code, body := getReadyz(t, srv.URL)
	if code != http.StatusServiceUnavailable || body.Checks["fail_safe"] != "holding: "+fs.Reason {
		t.Errorf("/readyz = %d %+v", code, body)
	}
	var inst struct {
		Held       bool    `json:"held"`
		HeldReason *string `json:"held_reason"`
		Status     string  `json:"status"`
	}
	getJSON(t, srv.URL+"/api/v1/clusters/a/instances/"+h.members("a")[0].ID, &inst)
	if !inst.Held || inst.HeldReason == nil || inst.Status != "HEALTHY" {
		t.Errorf("API instance = %+v", inst)
	}
	if evs := h.failSafeEvents(); len(evs) != 1 || !strings.HasPrefix(evs[0].Reason, "holding: ") {
		t.Errorf("fail_safe events = %+v, want one", evs)
	}

	// They come back: released, nothing held, and still no transition.
	setAll(t, killed, 0, 24, fleet.StateReady)
	h.rounds(3, n)
	h.waitFor("the release", func() bool {
		if h.store.FailSafe().Holding {
			return false
		}
		for _, c := range []string{"a", "b", "c"} {
			for _, m := range h.members(c) {
				if m.Held != nil {
					return false
				}
			}
		}
		return true
	})
	if code, body := getReadyz(t, srv.URL); code != http.StatusOK || body.Checks["fail_safe"] != "ok" {
		t.Errorf("/readyz after the release = %d %+v", code, body)
	}
	if evs := h.failSafeEvents(); len(evs) != 2 || !strings.HasPrefix(evs[1].Reason, "released: ") {
		t.Errorf("fail_safe events = %+v, want a hold then a release", evs)
	}
	h.rounds(3, n) // the ordinary thresholds from here: nothing moves
	for _, ev := range h.transitions()[before:] {
		if ev.Cluster != "d" {
			t.Errorf("transition of a held cluster: %s/%s %s->%s %q", ev.Cluster, ev.Instance, ev.From, ev.To, ev.Reason)
		}
	}
	for _, c := range []string{"a", "b", "c"} {
		for _, m := range h.members(c) {
			if m.Status != membership.StatusHealthy {
				t.Errorf("%s/%s: %s after the release", c, m.ID, m.Status)
			}
		}
	}
}

// TestFailSafeReleaseLetsTheThresholdsDecide: two of three killed clusters
// come back, which ends the hold; the third, still dead, then leaves
// rotation after the ordinary unhealthy_threshold: the failures during the
// hold were not counted.
func TestFailSafeReleaseLetsTheThresholdsDecide(t *testing.T) {
	f := startFleet(t, 24)
	h := newHarness(t, exactStarts)
	h.apply(fleetCluster("a", f, 0, 8), fleetCluster("b", f, 8, 16), fleetCluster("c", f, 16, 24))
	const n = 24
	h.firstRound(n)
	setAll(t, f, 0, 24, fleet.StateDead)
	h.rounds(4, n)
	h.waitFor("the trip", func() bool { return h.store.FailSafe().Holding })

	setAll(t, f, 0, 16, fleet.StateReady)
	h.rounds(1, n) // a and b answer: 8 of 24 fail, under 60%
	h.waitFor("the release", func() bool { return !h.store.FailSafe().Holding })
	h.waitFor("c unmarked", func() bool { return h.members("c")[0].Held == nil })
	for _, m := range h.members("c") {
		if m.Status != membership.StatusHealthy {
			t.Fatalf("c/%s left rotation at the release: %s %q", m.ID, m.Status, m.Reason)
		}
	}
	// Failures are counted again from the release (the round of it at most
	// once): one more round is not enough, three are.
	h.rounds(1, n)
	for _, m := range h.members("c") {
		if m.Status != membership.StatusHealthy {
			t.Fatalf("c/%s left one round past the release: %s %q", m.ID, m.Status, m.Reason)
		}
	}
	h.rounds(2, n)
	for _, m := range h.members("c") {
		if m.Status != membership.StatusUnhealthy || !strings.Contains(m.Reason, "connection refused (3 in a row)") {
			t.Errorf("c/%s: %s %q, want UNHEALTHY after 3 failures", m.ID, m.Status, m.Reason)
		}
	}
	for _, c := range []string{"a", "b"} {
		for _, m := range h.members(c) {
			if m.Status != membership.StatusHealthy || m.Held != nil {
				t.Errorf("%s/%s: %s held %+v", c, m.ID, m.Status, m.Held)
			}
		}
	}
}

// TestFailSafeDoesNotHoldWhatIsNotGlobal: one of two clusters dies (50% of
// the fleet, one cluster): published as usual. And with the fail-safe
// disabled, even the whole fleet dying is published.
func TestFailSafeDoesNotHoldWhatIsNotGlobal(t *testing.T) {
	for _, c := range []struct {
		name     string
		fs       FailSafe
		from, to int
	}{
		{"one cluster of two", DefaultFailSafe, 0, 8},
		{"disabled", FailSafe{Enabled: false, GlobalFailurePercent: 60, MinClusters: 2}, 0, 16},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := startFleet(t, 16)
			h := newHarness(t, exactStarts, func(o *Options) { o.FailSafe = &c.fs })
			h.apply(fleetCluster("a", f, 0, 8), fleetCluster("b", f, 8, 16))
			h.firstRound(16)
			setAll(t, f, c.from, c.to, fleet.StateDead)
			h.rounds(4, 16)
			for i, in := range f.Instances() {
				cluster := "a"
				if i >= 8 {
					cluster = "b"
				}
				m := h.member(cluster, in.ID)
				want := membership.StatusHealthy
				if i >= c.from && i < c.to {
					want = membership.StatusUnhealthy
				}
				if m.Status != want || m.Held != nil {
					t.Errorf("%s/%s: %s held %+v, want %s", cluster, m.ID, m.Status, m.Held, want)
				}
			}
			if h.store.FailSafe().Holding || len(h.failSafeEvents()) != 0 {
				t.Errorf("fail-safe: %+v, events %v", h.store.FailSafe(), h.failSafeEvents())
			}
		})
	}
}

type readyzBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func getReadyz(t *testing.T, base string) (int, readyzBody) {
	t.Helper()
	var b readyzBody
	return getJSON(t, base+"/readyz", &b), b
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck // a response body: nothing to lose
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode
}

// TestFailSafeDisabledWhileHoldingLetsGo: a reload that disables the
// fail-safe ends a hold at once; the held instances are unmarked and
// leave rotation once their failures reach the threshold.
func TestFailSafeDisabledWhileHoldingLetsGo(t *testing.T) {
	f := startFleet(t, 8)
	h := newHarness(t, exactStarts)
	h.apply(fleetCluster("a", f, 0, 4), fleetCluster("b", f, 4, 8))
	h.firstRound(8)
	setAll(t, f, 0, 8, fleet.StateDead)
	h.rounds(4, 8)
	h.waitFor("the trip", func() bool { return h.store.FailSafe().Holding })
	for _, m := range h.members("b") {
		if m.Status != membership.StatusHealthy || m.Held == nil {
			t.Fatalf("b/%s: %s held %+v while holding", m.ID, m.Status, m.Held)
		}
	}
	h.agg.SetFailSafe(FailSafe{Enabled: false, GlobalFailurePercent: 60, MinClusters: 2})
	h.waitFor("the release", func() bool {
		return !h.store.FailSafe().Holding && h.members("a")[0].Held == nil && h.members("b")[3].Held == nil
	})
	if evs := h.failSafeEvents(); len(evs) != 2 || evs[1].Reason != "released: fail-safe disabled" {
		t.Errorf("fail_safe events = %+v", evs)
	}
	h.rounds(3, 8)
	for _, c := range []string{"a", "b"} {
		for _, m := range h.members(c) {
			if m.Status != membership.StatusUnhealthy || m.Held != nil {
				t.Errorf("%s/%s: %s held %+v, want UNHEALTHY", c, m.ID, m.Status, m.Held)
			}
		}
	}
}

// TestFailSafePutsBackWhatLeftBeforeTheTrip: with unhealthy_threshold 1
// an instance leaves rotation on its first failure, so when three
// clusters die at once the first to fail are published UNHEALTHY before
// the guard has seen enough onsets to trip. The trip puts each of them
// back in rotation, held, with a transition that says why; the cluster
// answering 503 stays out. While the hold lasts nothing of the three
// moves, and when they answer again the hold ends with all of them in.
// With max_ejection_percent 50 the places that putting back frees do not
// let the instances waiting for one leave: they are held by the fail-safe.
func TestFailSafePutsBackWhatLeftBeforeTheTrip(t *testing.T) {
	for _, maxEject := range []int{100, 50} {
		t.Run(fmt.Sprintf("max_ejection_percent %d", maxEject), func(t *testing.T) { putBackAtTheTrip(t, maxEject) })
	}
}

func putBackAtTheTrip(t *testing.T, maxEject int) {
	killed := startFleet(t, 24)
	answering := startFleet(t, 4)
	h := newHarness(t, exactStarts)
	var clusters []upstreams.Cluster
	for i, name := range []string{"a", "b", "c"} {
		clusters = append(clusters, fleetCluster(name, killed, 8*i, 8*i+8))
	}
	clusters = append(clusters, fleetCluster("d", answering, 0, 4))
	for i := range clusters {
		clusters[i].Readiness.UnhealthyThreshold = 1
		if clusters[i].Name != "d" { // d's 503s are all to leave
			clusters[i].MaxEjectionPercent = maxEject
		}
	}
	h.apply(clusters...)
	const n = 28
	h.firstRound(n)
	before := len(h.transitions())

	setAll(t, killed, 0, 24, fleet.StateDead)
	setAll(t, answering, 0, 4, fleet.StateNotReady)
	h.rounds(2, n)
	h.waitFor("the trip", func() bool { return h.store.FailSafe().Holding })
	h.waitFor("every killed instance in rotation, held", func() bool {
		for _, c := range []string{"a", "b", "c"} {
			for _, m := range h.members(c) {
				if m.Status != membership.StatusHealthy || m.Held == nil || m.Held.Cause != membership.HoldFailSafe {
					return false
				}
			}
		}
		return true
	})
	left, back := map[string]bool{}, map[string]bool{}
	for _, ev := range h.transitions()[before:] {
		switch {
		case ev.Cluster == "d":
		case ev.To == membership.StatusUnhealthy:
			left[ev.Instance] = true
		case ev.To == membership.StatusHealthy && strings.Contains(ev.Reason, "put back in rotation: the fail-safe tripped"):
			back[ev.Instance] = true
		default:
			t.Errorf("transition %s/%s %s->%s %q", ev.Cluster, ev.Instance, ev.From, ev.To, ev.Reason)
		}
	}
	if len(left) == 0 {
		t.Fatal("nothing left rotation before the trip: the test no longer shows putting back")
	}
	if !maps.Equal(left, back) {
		t.Errorf("left before the trip %v, put back %v", left, back)
	}
	t.Logf("%d of 24 left rotation before the trip, all put back", len(left))
	for _, m := range h.members("d") {
		if m.Status != membership.StatusUnhealthy || m.Held != nil {
			t.Errorf("d/%s: %s held %+v, want UNHEALTHY (it answered 503)", m.ID, m.Status, m.Held)
		}
	}

	mark := len(h.transitions())
	h.rounds(2, n)
	setAll(t, killed, 0, 24, fleet.StateReady)
	h.rounds(3, n)
	h.waitFor("the release", func() bool { return !h.store.FailSafe().Holding })
	for _, ev := range h.transitions()[mark:] {
		if ev.Cluster != "d" {
			t.Errorf("transition while held or after: %s/%s %s->%s %q", ev.Cluster, ev.Instance, ev.From, ev.To, ev.Reason)
		}
	}
	for _, c := range []string{"a", "b", "c"} {
		for _, m := range h.members(c) {
			if m.Status != membership.StatusHealthy {
				t.Errorf("%s/%s: %s after the release", c, m.ID, m.Status)
			}
		}
	}
}
