package metrics

import (
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigilhq/vigil/internal/fdbudget"
)

func TestSkippedProbesCountedByCause(t *testing.T) {
	m, url := newServer(t)
	zero := map[string]string{}
	for _, c := range SkipCauses {
		zero[`vigil_probes_skipped_total{cause="`+c+`"}`] = "0"
	}
	expect(t, scrape(t, url), zero) // at zero before the first skip
	m.ProbeSkipped("fd_budget")
	m.ProbeSkipped("fd_budget")
	m.ProbeSkipped("late")
	m.ProbeSkipped("something new")
	expect(t, scrape(t, url), map[string]string{
		`vigil_probes_skipped_total{cause="fd_budget"}`: "2",
		`vigil_probes_skipped_total{cause="late"}`:      "1",
		`vigil_probes_skipped_total{cause="fd_limit"}`:  "0",
		`vigil_probes_skipped_total{cause="other"}`:     "1",
	})
}

func TestBudgetCollector(t *testing.T) {
	b := fdbudget.New(fdbudget.PlanFor(20000))
	b.Keep()
	b.Keep()
	b.Short()
	b.Short()
	b.Unshort()
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewBudgetCollector(b))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	expect(t, scrape(t, srv.URL), map[string]string{
		`vigil_open_files_limit`:                           "20000",
		`vigil_probe_connection_slots{kind="reserve"}`:     "2000",
		`vigil_probe_connection_slots{kind="kept"}`:        "16200",
		`vigil_probe_connection_slots{kind="short_lived"}`: "1800",
		`vigil_probe_connections{kind="kept"}`:             "2",
		`vigil_probe_connections{kind="short_lived"}`:      "1",
		`vigil_probe_short_lived_connections_total`:        "2",
	})
}
