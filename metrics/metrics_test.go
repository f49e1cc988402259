package metrics

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigilhq/vigil/internal/runtest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// scrape fetches /metrics over real HTTP and returns its sample lines
// (comments dropped), keyed by series.
func scrape(t *testing.T, url string) map[string]string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close() //nolint:errcheck // a response body: nothing to lose
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: %s: %s", resp.Status, body)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		out[line[:i]] = line[i+1:]
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scrape: read: %v", err)
	}
	return out
}

func newServer(t *testing.T) (*Metrics, string) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := New(reg)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return m, srv.URL + "/metrics"
}

func expect(t *testing.T, got map[string]string, want map[string]string) {
	t.Helper()
	for series, v := range want {
		if g, ok := got[series]; !ok {
			t.Errorf("missing series %s (want %s)", series, v)
		} else if g != v {
			t.Errorf("%s = %s, want %s", series, g, v)
		}
	}
}

func TestProbeAndPublisherHooks(t *testing.T) {
	m, url := newServer(t)

	// A known probe sequence: 3 readiness results on "web", one liveness on
	// "db". Latencies are exact binary fractions so sums print exactly.
	m.ProbeDone("web", membership.Readiness, membership.OutcomePass, 250*time.Millisecond)
	m.ProbeDone("web", membership.Readiness, membership.OutcomePass, 500*time.Millisecond)
	m.ProbeDone("web", membership.Readiness, membership.OutcomeFail, 2*time.Second)
	m.ProbeDone("db", membership.Liveness, membership.OutcomeDrain, time.Millisecond/2)

	m.StreamOpened()
	m.StreamOpened()
	m.StreamOpened()
	m.StreamClosed()
	const cla = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	m.Pushed(cla)
	m.Pushed(cla)
	m.Pushed("type.googleapis.com/envoy.config.cluster.v3.Cluster")
	m.NACK(cla)
	m.ConsulWrite("ok")
	m.ConsulWrite("ok")
	m.ConsulWrite("error")
	m.ConsulBreakerState("open")

	got := scrape(t, url)
	expect(t, got, map[string]string{
		`vigil_probes_total{cluster="web",probe="readiness",result="pass"}`:              "2",
		`vigil_probes_total{cluster="web",probe="readiness",result="fail"}`:              "1",
		`vigil_probes_total{cluster="web",probe="readiness",result="drain"}`:             "0",
		`vigil_probes_total{cluster="db",probe="liveness",result="drain"}`:               "1",
		`vigil_probe_duration_seconds_count{cluster="web",probe="readiness"}`:            "3",
		`vigil_probe_duration_seconds_sum{cluster="web",probe="readiness"}`:              "2.75",
		`vigil_probe_duration_seconds_bucket{cluster="web",probe="readiness",le="0.25"}`: "1",
		`vigil_probe_duration_seconds_bucket{cluster="web",probe="readiness",le="0.5"}`:  "2",
		`vigil_probe_duration_seconds_bucket{cluster="web",probe="readiness",le="1"}`:    "2",
		`vigil_probe_duration_seconds_bucket{cluster="web",probe="readiness",le="2.5"}`:  "3",
		`vigil_probe_duration_seconds_bucket{cluster="db",probe="liveness",le="0.0005"}`: "1",
		`vigil_xds_streams`:                          "2",
		`vigil_xds_pushes_total{type="` + cla + `"}`: "2",
		`vigil_xds_pushes_total{type="type.googleapis.com/envoy.config.cluster.v3.Cluster"}`: "1",
		`vigil_xds_nacks_total{type="` + cla + `"}`:                                          "1",
		`vigil_consul_writes_total{result="ok"}`:                                             "2",
		`vigil_consul_writes_total{result="error"}`:                                          "1",
		`vigil_consul_breaker_state`:                                                         "2",
	})
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := got[name]; !ok {
			t.Errorf("missing %s: Go and process collectors not registered", name)
		}
	}

	for state, want := range map[string]string{"closed": "0", "half-open": "1", "open": "2"} {
		m.ConsulBreakerState(state)
		expect(t, scrape(t, url), map[string]string{"vigil_consul_breaker_state": want})
	}
}

func TestProbeDoneDoesNotAllocate(t *testing.T) {
	m := New(prometheus.NewRegistry())
	m.ProbeDone("web", membership.Readiness, membership.OutcomePass, time.Millisecond) // resolve once
	allocs := testing.AllocsPerRun(1000, func() {
		m.ProbeDone("web", membership.Readiness, membership.OutcomePass, time.Millisecond)
		m.ProbeDone("web", membership.Liveness, membership.OutcomeFail, time.Millisecond)
	})
	if allocs != 0 {
		t.Errorf("ProbeDone allocates %.1f times per call pair, want 0", allocs)
	}
}

func member(id string, st membership.Status) membership.Member {
	return membership.Member{
		Instance: upstreams.Instance{ID: id, Address: id + ":80"},
		Status:   st,
	}
}

func setStatus(store *membership.Store, cluster, id string, to membership.Status, kind membership.EventKind) {
	store.UpdateMember(cluster, id, func(m *membership.Member) (*membership.Event, bool) {
		ev := &membership.Event{Time: time.Now(), Kind: kind, Cluster: cluster, Instance: id, From: m.Status, To: to}
		m.Status = to
		return ev, true
	})
}

// runUntilEnd runs m on store until the test ends.
func runUntilEnd(t *testing.T, m *Metrics, store *membership.Store) {
	runtest.Start(t, func(ctx context.Context) error { return m.Run(ctx, store) })
}

// eventually polls the scrape until every wanted value shows up.
func eventually(t *testing.T, url string, want map[string]string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := scrape(t, url)
		ok := true
		for k, v := range want {
			if got[k] != v {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			expect(t, got, want)
			t.FailNow()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunTracksInstancesAndTransitions(t *testing.T) {
	m, url := newServer(t)
	store := membership.NewStore(100)
	store.PutCluster(&upstreams.Cluster{Name: "web"}, []membership.Member{
		member("a", membership.StatusHealthy),
		member("b", membership.StatusHealthy),
		member("c", membership.StatusUnknown),
	}, nil)

	runUntilEnd(t, m, store)

	eventually(t, url, map[string]string{
		`vigil_instances{cluster="web",status="HEALTHY"}`:   "2",
		`vigil_instances{cluster="web",status="UNKNOWN"}`:   "1",
		`vigil_instances{cluster="web",status="DRAINING"}`:  "0",
		`vigil_instances{cluster="web",status="UNHEALTHY"}`: "0",
		`vigil_instances{cluster="web",status="DEGRADED"}`:  "0",
	})

	setStatus(store, "web", "c", membership.StatusHealthy, membership.EventTransition)
	setStatus(store, "web", "a", membership.StatusUnhealthy, membership.EventTransition)
	setStatus(store, "web", "a", membership.StatusHealthy, membership.EventTransition)
	setStatus(store, "web", "b", membership.StatusDraining, membership.EventOverride)
	store.PutCluster(&upstreams.Cluster{Name: "db"}, []membership.Member{member("x", membership.StatusUnhealthy)}, nil)

	eventually(t, url, map[string]string{
		`vigil_instances{cluster="web",status="HEALTHY"}`:                      "2",
		`vigil_instances{cluster="web",status="DRAINING"}`:                     "1",
		`vigil_instances{cluster="web",status="UNKNOWN"}`:                      "0",
		`vigil_instances{cluster="db",status="UNHEALTHY"}`:                     "1",
		`vigil_transitions_total{cluster="web",from="UNKNOWN",to="HEALTHY"}`:   "1",
		`vigil_transitions_total{cluster="web",from="HEALTHY",to="UNHEALTHY"}`: "1",
		`vigil_transitions_total{cluster="web",from="UNHEALTHY",to="HEALTHY"}`: "1",
		`vigil_transitions_total{cluster="web",from="HEALTHY",to="DRAINING"}`:  "1",
	})

	store.RemoveCluster("db", nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := scrape(t, url)
		if _, still := got[`vigil_instances{cluster="db",status="UNHEALTHY"}`]; !still {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("series of removed cluster db still exported")
		}
		time.Sleep(20 * time.Millisecond)
	}

	for series := range scrape(t, url) {
		for _, bad := range []string{`instance=`, `id=`, `address=`} {
			if strings.Contains(series, bad) {
				t.Errorf("per-instance label in %s", series)
			}
		}
	}
}

// Held instances are counted by cluster and cause, every cause at zero
// from the start; the fail-safe's state is a 0/1 gauge.
func TestRunTracksHeldAndFailSafe(t *testing.T) {
	m, url := newServer(t)
	store := membership.NewStore(100)
	store.PutCluster(&upstreams.Cluster{Name: "web"}, []membership.Member{
		member("a", membership.StatusHealthy), member("b", membership.StatusHealthy), member("c", membership.StatusHealthy),
	}, nil)
	runUntilEnd(t, m, store)
	eventually(t, url, map[string]string{
		`vigil_instances_held{cause="fail_safe",cluster="web"}`:            "0",
		`vigil_instances_held{cause="max_ejection_percent",cluster="web"}`: "0",
		`vigil_fail_safe_holding`:                                          "0",
	})
	hold := func(id string, cause membership.HoldCause) {
		store.UpdateMember("web", id, func(mb *membership.Member) (*membership.Event, bool) {
			mb.Held = &membership.Hold{Cause: cause, Reason: "test"}
			return nil, true
		})
	}
	store.SetFailSafe(membership.FailSafe{Holding: true, Reason: "test"}, []membership.Event{{Kind: membership.EventFailSafe}})
	hold("a", membership.HoldFailSafe)
	hold("b", membership.HoldFailSafe)
	hold("c", membership.HoldMaxEjection)
	eventually(t, url, map[string]string{
		`vigil_instances_held{cause="fail_safe",cluster="web"}`:            "2",
		`vigil_instances_held{cause="max_ejection_percent",cluster="web"}`: "1",
		`vigil_fail_safe_holding`:                                          "1",
	})
	store.SetFailSafe(membership.FailSafe{}, nil)
	eventually(t, url, map[string]string{`vigil_fail_safe_holding`: "0"})
	store.RemoveCluster("web", nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, still := scrape(t, url)[`vigil_instances_held{cause="fail_safe",cluster="web"}`]; !still {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("held series of a removed cluster still exported")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNewToleratesDefaultCollectorsAlreadyRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	New(reg) // panics if the Go collector's clash is not tolerated
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err) // a collector registered twice fails here
	}
	seen := map[string]int{}
	for _, f := range families {
		seen[f.GetName()]++
	}
	for _, name := range []string{"go_goroutines", "process_open_fds", "vigil_xds_pushes_total", "vigil_probes_skipped_total"} {
		if seen[name] != 1 {
			t.Errorf("%s gathered %d times, want once (families: %d)", name, seen[name], len(families))
		}
	}
}

// With replicas the fail-safe lives in the local aggregator's store, not
// in the merged one Run follows: FailSafeFrom points the gauge at it.
func TestFailSafeFromAnotherStore(t *testing.T) {
	m, url := newServer(t)
	merged, local := membership.NewStore(10), membership.NewStore(10)
	m.FailSafeFrom(local.FailSafe)
	runUntilEnd(t, m, merged)
	local.SetFailSafe(membership.FailSafe{Holding: true, Reason: "test"}, nil)
	eventually(t, url, map[string]string{`vigil_fail_safe_holding`: "1"})
	local.SetFailSafe(membership.FailSafe{}, nil)
	eventually(t, url, map[string]string{`vigil_fail_safe_holding`: "0"})
}
