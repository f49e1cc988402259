package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/fleet"
	"github.com/vigilhq/vigil/internal/proctest"
)

// scrapeMetrics returns vigil's /metrics exposition as served.
func (r *running) scrapeMetrics() string {
	r.t.Helper()
	resp, err := http.Get(r.admin + "/metrics")
	if err != nil {
		r.t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close() //nolint:errcheck // a response body: nothing to lose
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		r.t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return string(body)
}

// TestMetricsExposition: vigil's real /metrics, once every instance was
// probed, passes `promtool check metrics` (when promtool is installed), has
// the publisher counters at zero before any push or write, and no probe
// series for a probe a cluster does not have.
func TestMetricsExposition(t *testing.T) {
	f := startFleet(t)
	r := startVigil(t, f, nil)
	for _, in := range f.Instances() {
		r.waitStatus(clusterOf(in.Format), in.ID, "HEALTHY")
	}
	body := r.scrapeMetrics()

	for _, want := range []string{
		`vigil_xds_pushes_total{type="type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"} `,
		`vigil_xds_nacks_total{type="type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"} 0`,
		`vigil_consul_writes_total{result="ok"} 0`, // no consul block: nothing written, still exported
		`vigil_probes_total{cluster="nativelink",probe="readiness",result="pass"} `,
		`vigil_probes_total{cluster="engines",probe="liveness",result="pass"} `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// nativelink, grpc-backends and engines-cel have no liveness probe.
	for _, cluster := range []string{clusterOf(fleet.FormatNativeLink), clusterOf(fleet.FormatGRPC), "engines-cel"} {
		if series := `{cluster="` + cluster + `",probe="liveness"`; strings.Contains(body, series) {
			t.Errorf("/metrics has liveness series for %s, which has no liveness probe", cluster)
		}
	}

	proctest.Promlint(t, []byte(body))
}
