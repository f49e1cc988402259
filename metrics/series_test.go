package metrics

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// The publisher counters the README lists are there, at zero, before any
// xDS push or Consul write; a type URL vigil does not serve is "other".
func TestPublisherCountersStartAtZero(t *testing.T) {
	m, url := newServer(t)
	want := map[string]string{}
	for _, typ := range []string{
		"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
		"type.googleapis.com/envoy.config.cluster.v3.Cluster",
		"type.googleapis.com/envoy.config.listener.v3.Listener",
		"type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
	} {
		want[`vigil_xds_pushes_total{type="`+typ+`"}`] = "0"
		want[`vigil_xds_nacks_total{type="`+typ+`"}`] = "0"
	}
	for _, r := range []string{"ok", "error", "cas_conflict", "fenced"} {
		want[`vigil_consul_writes_total{result="`+r+`"}`] = "0"
	}
	got := scrape(t, url)
	expect(t, got, want)
	for series := range got {
		if strings.Contains(series, `type="other"`) {
			t.Errorf("%s exported before any unknown type was seen", series)
		}
	}

	m.NACK("type.googleapis.com/made.up.v1.Thing")
	m.NACK("type.googleapis.com/another.made.up.v1.Thing")
	got = scrape(t, url)
	expect(t, got, map[string]string{`vigil_xds_nacks_total{type="other"}`: "2"})
	for series := range got {
		if strings.Contains(series, "made.up") {
			t.Errorf("a client's type URL became a label: %s", series)
		}
	}
}

// probeSeries lists the exported probe series of a cluster, by probe.
func probeSeries(got map[string]string, cluster string) map[string]int {
	out := map[string]int{}
	for series := range got {
		if !strings.HasPrefix(series, "vigil_probe") || !strings.Contains(series, `cluster="`+cluster+`"`) {
			continue
		}
		for _, p := range probes {
			if strings.Contains(series, `probe="`+string(p)+`"`) {
				out[string(p)]++
			}
		}
	}
	return out
}

// A cluster's probe series exist, at zero, for the probes it has and for
// no other; they follow a reload that changes its probes, and a result
// arriving late (for a probe gone, or a cluster gone) brings none back.
func TestProbeSeriesFollowTheClustersProbes(t *testing.T) {
	m, url := newServer(t)
	store := membership.NewStore(100)
	ready := &upstreams.Probe{Kind: upstreams.KindHTTP, Path: "/ready"}
	live := &upstreams.Probe{Kind: upstreams.KindHTTP, Path: "/live"}
	store.PutCluster(&upstreams.Cluster{Name: "web", Readiness: ready}, []membership.Member{member("a", membership.StatusHealthy)}, nil)
	store.PutCluster(&upstreams.Cluster{Name: "db", Liveness: live, Readiness: ready}, []membership.Member{member("x", membership.StatusHealthy)}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, store) }()
	defer func() {
		cancel()
		<-done
	}()

	// Per probe: 4 results, the histogram's buckets (14 + Inf), sum and count.
	perProbe := 4 + len(probeBuckets) + 1 + 2
	waitSeries := func(what, cluster string, want map[string]int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := probeSeries(scrape(t, url), cluster)
			if len(got) == len(want) && got["liveness"] == want["liveness"] && got["readiness"] == want["readiness"] {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s probe series by probe = %v, want %v", what, cluster, got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitSeries("start", "web", map[string]int{"readiness": perProbe})
	waitSeries("start", "db", map[string]int{"liveness": perProbe, "readiness": perProbe})
	expect(t, scrape(t, url), map[string]string{
		`vigil_probes_total{cluster="web",probe="readiness",result="pass"}`:   "0",
		`vigil_probes_total{cluster="web",probe="readiness",result="fail"}`:   "0",
		`vigil_probe_duration_seconds_count{cluster="web",probe="readiness"}`: "0",
	})

	// A liveness result for web, which has no liveness probe, is not counted.
	m.ProbeDone("web", membership.Liveness, membership.OutcomePass, time.Millisecond)
	m.ProbeDone("web", membership.Readiness, membership.OutcomeFail, time.Millisecond)
	expect(t, scrape(t, url), map[string]string{`vigil_probes_total{cluster="web",probe="readiness",result="fail"}`: "1"})
	waitSeries("a liveness result of a readiness-only cluster", "web", map[string]int{"readiness": perProbe})

	// Reload: web now has only a liveness probe.
	store.PutCluster(&upstreams.Cluster{Name: "web", Liveness: live}, []membership.Member{member("a", membership.StatusHealthy)}, nil)
	waitSeries("reload to liveness only", "web", map[string]int{"liveness": perProbe})
	m.ProbeDone("web", membership.Readiness, membership.OutcomePass, time.Millisecond) // late, from before the reload
	waitSeries("a late readiness result", "web", map[string]int{"liveness": perProbe})

	// db leaves; a result still in flight does not bring its series back.
	store.RemoveCluster("db", nil)
	waitSeries("db removed", "db", map[string]int{})
	m.ProbeDone("db", membership.Readiness, membership.OutcomePass, time.Millisecond)
	waitSeries("a late result of a removed cluster", "db", map[string]int{})
	// And it comes back with its probes when it is configured again.
	store.PutCluster(&upstreams.Cluster{Name: "db", Readiness: ready}, []membership.Member{member("x", membership.StatusHealthy)}, nil)
	waitSeries("db back", "db", map[string]int{"readiness": perProbe})
}

// A result that arrives before the metrics subscriber has seen its
// cluster is counted, and only its own probe gets series until then.
func TestProbeResultBeforeTheSpecIsCounted(t *testing.T) {
	m, url := newServer(t)
	m.ProbeDone("early", membership.Readiness, membership.OutcomePass, time.Millisecond)
	got := scrape(t, url)
	expect(t, got, map[string]string{`vigil_probes_total{cluster="early",probe="readiness",result="pass"}`: "1"})
	if n := probeSeries(got, "early")["liveness"]; n != 0 {
		t.Errorf("%d liveness series for a cluster that only reported readiness", n)
	}
}
