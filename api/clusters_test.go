package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/vigilhq/vigil/membership"
)

func TestSummary(t *testing.T) {
	fx := newFixture(t, nil)
	fx.advance(90 * time.Second)
	code, s := fx.get(t, "/api/v1/summary")
	if code != http.StatusOK {
		t.Fatalf("summary: %d %v", code, s)
	}
	hasKeys(t, "summary", s, "version", "started_at", "uptime_seconds", "store_version", "clusters", "instances", "overrides", "held", "counts", "draining", "fail_safe")
	if s["version"] != "1.2.3" || s["clusters"] != 2.0 || s["instances"] != 4.0 || s["uptime_seconds"] != 90.0 || s["draining"] != false {
		t.Errorf("summary = %v", s)
	}
	counts := s["counts"].(map[string]any)
	want := map[string]float64{"HEALTHY": 2, "UNHEALTHY": 1, "DEGRADED": 1, "DRAINING": 0, "UNKNOWN": 0}
	for st, n := range want {
		if counts[st] != n {
			t.Errorf("counts[%s] = %v, want %v", st, counts[st], n)
		}
	}
}

func TestClusters(t *testing.T) {
	fx := newFixture(t, nil)
	code, body := fx.get(t, "/api/v1/clusters")
	if code != http.StatusOK {
		t.Fatalf("clusters: %d", code)
	}
	list := body["clusters"].([]any)
	if len(list) != 2 {
		t.Fatalf("%d clusters, want 2", len(list))
	}
	db, web := list[0].(map[string]any), list[1].(map[string]any)
	hasKeys(t, "cluster", web, "name", "eds_name", "version", "total", "counts", "overrides", "held", "probes")
	if db["name"] != "db" || web["name"] != "web" {
		t.Errorf("clusters not sorted by name: %v, %v", db["name"], web["name"])
	}
	if web["eds_name"] != "web-eds" || db["eds_name"] != "db" || web["total"] != 3.0 {
		t.Errorf("web = %v; db = %v", web, db)
	}
	if c := web["counts"].(map[string]any); c["HEALTHY"] != 2.0 || c["UNHEALTHY"] != 1.0 || c["DRAINING"] != 0.0 {
		t.Errorf("web counts = %v", c)
	}
	probes := web["probes"].([]any)
	if len(probes) != 2 {
		t.Fatalf("web probes = %v", probes)
	}
	p := probes[1].(map[string]any)
	hasKeys(t, "probe spec", p, "probe", "kind", "scheme", "path", "port", "dialect", "interval", "timeout", "healthy_threshold", "unhealthy_threshold")
	if p["probe"] != "readiness" || p["path"] != "/health" || p["interval"] != "5s" || p["healthy_threshold"] != 2.0 {
		t.Errorf("readiness probe = %v", p)
	}
}

func TestClusterDetail(t *testing.T) {
	fx := newFixture(t, nil)
	code, c := fx.get(t, "/api/v1/clusters/web")
	if code != http.StatusOK {
		t.Fatalf("cluster: %d %v", code, c)
	}
	insts := c["instances"].([]any)
	if len(insts) != 3 {
		t.Fatalf("%d instances, want 3", len(insts))
	}
	w1 := insts[0].(map[string]any)
	hasKeys(t, "instance", w1, "id", "address", "status", "reason", "since", "weight", "region", "zone", "sub_zone",
		"priority", "meta", "source", "override", "held", "held_cause", "held_reason", "held_since", "liveness", "readiness")
	if w1["id"] != "web-1" || w1["address"] != "web-1.local:8000" || w1["status"] != "HEALTHY" || w1["zone"] != "z1" ||
		w1["since"] != t0.Format(time.RFC3339) || w1["override"] != nil || w1["held"] != false || w1["held_reason"] != nil {
		t.Errorf("web-1 = %v", w1)
	}
	rd := w1["readiness"].(map[string]any)
	hasKeys(t, "probe summary", rd, "state", "consecutive_successes", "consecutive_failures", "next_probe", "last")
	last := rd["last"].(map[string]any)
	hasKeys(t, "probe result", last, "time", "http_status", "latency_ms", "verdict", "reason", "components")
	if last["http_status"] != 200.0 || last["verdict"] != "pass" || last["latency_ms"] != 2.0 {
		t.Errorf("web-1 last readiness = %v", last)
	}
	w3 := insts[2].(map[string]any)
	if w3["status"] != "UNHEALTHY" || w3["reason"] != "readiness: 503 not_ready, checks.queue=unavailable (3 in a row)" {
		t.Errorf("web-3 = %v", w3)
	}
	if w3["readiness"] != nil || w3["liveness"] != nil {
		t.Errorf("web-3 has no probe details, want null probes: %v", w3)
	}
}

func TestInstanceDetail(t *testing.T) {
	fx := newFixture(t, nil)
	code, d := fx.get(t, "/api/v1/clusters/web/instances/web-1")
	if code != http.StatusOK {
		t.Fatalf("instance: %d %v", code, d)
	}
	if d["cluster"] != "web" || d["id"] != "web-1" || d["status"] != "HEALTHY" {
		t.Errorf("detail = %v", d)
	}
	rd := d["readiness"].(map[string]any)
	hasKeys(t, "probe detail", rd, "state", "consecutive_successes", "consecutive_failures", "next_probe", "last", "history")
	if rd["consecutive_successes"] != 3.0 || rd["next_probe"] != t0.Add(5*time.Second).Format(time.RFC3339) {
		t.Errorf("readiness = %v", rd)
	}
	hist := rd["history"].([]any)
	if len(hist) != 20 {
		t.Fatalf("readiness history has %d results, want 20", len(hist))
	}
	bad := hist[3].(map[string]any)
	comps := bad["components"].([]any)
	if bad["http_status"] != 503.0 || bad["verdict"] != "fail" || len(comps) != 1 ||
		comps[0].(map[string]any)["name"] != "queue" || comps[0].(map[string]any)["status"] != "unavailable" {
		t.Errorf("history[3] = %v", bad)
	}
	lv := d["liveness"].(map[string]any)
	if len(lv["history"].([]any)) != 1 {
		t.Errorf("liveness = %v", lv)
	}
}

func TestNotFound(t *testing.T) {
	fx := newFixture(t, nil)
	for _, path := range []string{
		"/api/v1/clusters/nope",
		"/api/v1/clusters/nope/instances/web-1",
		"/api/v1/clusters/web/instances/nope",
		"/api/v1/whatever",
	} {
		code, body := fx.get(t, path)
		if code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, code)
		}
		if msg, _ := body["error"].(string); msg == "" {
			t.Errorf("GET %s: no error message: %v", path, body)
		}
	}
}

func TestWithoutAggregator(t *testing.T) {
	fx := newFixture(t, func(o *Options) { o.Aggregator = nil })
	code, d := fx.get(t, "/api/v1/clusters/web/instances/web-1")
	if code != http.StatusOK || d["status"] != "HEALTHY" || d["readiness"] != nil {
		t.Errorf("detail without aggregator: %d %v", code, d)
	}
	code, body := fx.do(t, http.MethodPost, "/api/v1/clusters/web/instances/web-1/drain", "s3cret", "")
	if code != http.StatusServiceUnavailable {
		t.Errorf("drain without aggregator: %d %v", code, body)
	}
}

func TestClusterDetailWithoutProbes(t *testing.T) {
	fx := newFixture(t, nil)
	code, c := fx.get(t, "/api/v1/clusters/web?probes=false")
	if code != http.StatusOK {
		t.Fatalf("cluster: %d %v", code, c)
	}
	w1 := c["instances"].([]any)[0].(map[string]any)
	if w1["id"] != "web-1" || w1["status"] != "HEALTHY" || w1["readiness"] != nil || w1["liveness"] != nil {
		t.Errorf("web-1 with probes=false = %v", w1)
	}
	if code, _ := fx.get(t, "/api/v1/clusters/web?probes=maybe"); code != http.StatusBadRequest {
		t.Errorf("probes=maybe: %d, want 400", code)
	}
}

// A held instance says so in every view; the summary counts it and shows
// the fail-safe, and /readyz is 503 naming the reason while it holds.
func TestHeldAndFailSafe(t *testing.T) {
	fx := newFixture(t, nil)
	fx.store.UpdateMember("web", "web-2", func(m *membership.Member) (*membership.Event, bool) {
		m.Held = &membership.Hold{Cause: membership.HoldFailSafe, Reason: "readiness: connect: connection refused", Since: t0}
		return nil, true
	})
	reason := "9 of 10 instances (90%) in 2 clusters stopped answering at connection level within 5.5s: suspecting vigil's own network"
	fx.store.SetFailSafe(membership.FailSafe{Holding: true, Reason: reason, Since: t0},
		[]membership.Event{{Time: t0, Kind: membership.EventFailSafe, Reason: "holding: " + reason}})

	_, c := fx.get(t, "/api/v1/clusters/web")
	if c["held"] != 1.0 {
		t.Errorf("cluster held = %v, want 1", c["held"])
	}
	w2 := c["instances"].([]any)[1].(map[string]any)
	if w2["id"] != "web-2" || w2["held"] != true || w2["held_cause"] != "fail_safe" ||
		w2["held_reason"] != "readiness: connect: connection refused" || w2["held_since"] != t0.Format(time.RFC3339) {
		t.Errorf("held instance = %v", w2)
	}
	if _, d := fx.get(t, "/api/v1/clusters/web/instances/web-2"); d["held"] != true || d["held_reason"] == nil {
		t.Errorf("held instance detail = %v", d)
	}
	_, s := fx.get(t, "/api/v1/summary")
	fs, _ := s["fail_safe"].(map[string]any)
	if s["held"] != 1.0 || fs["holding"] != true || fs["reason"] != reason {
		t.Errorf("summary: held %v, fail_safe %v", s["held"], s["fail_safe"])
	}
	code, body := fx.get(t, "/readyz")
	if checks, _ := body["checks"].(map[string]any); code != http.StatusServiceUnavailable || checks["fail_safe"] != "holding: "+reason {
		t.Errorf("readyz while holding = %d %v", code, body)
	}
	_, evs := fx.get(t, "/api/v1/events")
	if ev := evs["events"].([]any)[0].(map[string]any); ev["kind"] != "fail_safe" || ev["reason"] != "holding: "+reason {
		t.Errorf("newest event = %v", ev)
	}

	fx.store.SetFailSafe(membership.FailSafe{Reason: "released", Since: t0}, nil)
	if code, body := fx.get(t, "/readyz"); code != http.StatusOK || body["checks"].(map[string]any)["fail_safe"] != "ok" {
		t.Errorf("readyz after release = %d %v", code, body)
	}
}
