package api

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilhq/vigil/metrics"
)

func TestHealthz(t *testing.T) {
	fx := newFixture(t, nil)
	fx.srv.SetDraining() // liveness does not care
	code, body := fx.get(t, "/healthz")
	if code != http.StatusOK || len(body) != 1 || body["status"] != "ok" {
		t.Errorf("healthz = %d %v", code, body)
	}
}

func TestReadyz(t *testing.T) {
	fx := newFixture(t, nil)
	var firstRound, xds atomic.Bool
	fx.srv.AddReadinessCheck("config", func() (bool, string) { return true, "" })
	fx.srv.AddReadinessCheck("first_round", func() (bool, string) { return firstRound.Load(), "probing" })
	fx.srv.AddReadinessCheck("xds", func() (bool, string) { return xds.Load(), "" })

	// Before ready.
	code, body := fx.get(t, "/readyz")
	hasKeys(t, "readyz", body, "status", "checks")
	checks := body["checks"].(map[string]any)
	if code != http.StatusServiceUnavailable || body["status"] != "not_ready" ||
		checks["config"] != "ok" || checks["first_round"] != "probing" || checks["xds"] != "unavailable" {
		t.Errorf("before ready: %d %v", code, body)
	}

	// Ready.
	firstRound.Store(true)
	xds.Store(true)
	code, body = fx.get(t, "/readyz")
	hasKeys(t, "readyz", body, "status", "checks")
	checks = body["checks"].(map[string]any)
	if code != http.StatusOK || body["status"] != "ready" || len(checks) != 3 || checks["first_round"] != "ok" || checks["xds"] != "ok" {
		t.Errorf("ready: %d %v", code, body)
	}

	// A replaced check.
	fx.srv.AddReadinessCheck("xds", func() (bool, string) { return false, "listener down" })
	if code, body = fx.get(t, "/readyz"); code != http.StatusServiceUnavailable || body["checks"].(map[string]any)["xds"] != "listener down" {
		t.Errorf("replaced check: %d %v", code, body)
	}
	fx.srv.AddReadinessCheck("xds", func() (bool, string) { return true, "" })

	// Draining: 503 at once, whatever the checks say.
	fx.srv.SetDraining()
	code, body = fx.get(t, "/readyz")
	hasKeys(t, "readyz", body, "status", "draining", "checks")
	if code != http.StatusServiceUnavailable || body["status"] != "not_ready" || body["draining"] != true || body["checks"].(map[string]any)["config"] != "ok" {
		t.Errorf("draining: %d %v", code, body)
	}
	if _, s := fx.get(t, "/api/v1/summary"); s["draining"] != true {
		t.Errorf("summary while draining = %v", s)
	}
}

func TestReadyWithoutChecks(t *testing.T) {
	fx := newFixture(t, nil)
	if code, body := fx.get(t, "/readyz"); code != http.StatusOK || body["status"] != "ready" {
		t.Errorf("readyz with no checks = %d %v", code, body)
	}
}

func TestReload(t *testing.T) {
	fx := newFixture(t, func(o *Options) { o.Reload = nil })
	if code, _ := fx.do(t, http.MethodPost, "/api/v1/reload", "s3cret", ""); code != http.StatusNotImplemented {
		t.Errorf("reload unwired = %d, want 501", code)
	}

	calls := 0
	var fail error
	fx = newFixture(t, func(o *Options) {
		o.Reload = func() error { calls++; return fail }
	})
	if code, body := fx.do(t, http.MethodPost, "/api/v1/reload", "s3cret", ""); code != http.StatusOK || body["status"] != "reloaded" || calls != 1 {
		t.Errorf("reload = %d %v (calls %d)", code, body, calls)
	}
	fail = errors.New("config.yaml:7: clusters[0].interval: not a duration")
	code, body := fx.do(t, http.MethodPost, "/api/v1/reload", "s3cret", "")
	if code != http.StatusUnprocessableEntity || body["error"] != "reload rejected, the running config stays: config.yaml:7: clusters[0].interval: not a duration" {
		t.Errorf("rejected reload = %d %v", code, body)
	}
	if code, _ := fx.do(t, http.MethodPost, "/api/v1/reload", "wrong", ""); code != http.StatusUnauthorized || calls != 2 {
		t.Errorf("reload with a wrong token = %d (calls %d)", code, calls)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	m.StreamOpened()
	fx := newFixture(t, func(o *Options) { o.Metrics = reg })
	resp, text := fx.send(t, http.MethodGet, "/metrics", "", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(text, "\nvigil_xds_streams 1\n") {
		t.Errorf("/metrics = %d, missing vigil_xds_streams 1:\n%.500s", resp.StatusCode, text)
	}

	fx = newFixture(t, nil)
	if resp2, _ := fx.send(t, http.MethodGet, "/metrics", "", ""); resp2.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics without a gatherer = %d, want 404", resp2.StatusCode)
	}
}
