package api

import (
	"net/http"
	"testing"
	"time"
)

func TestSummary(t *testing.T) {
	fx := newFixture(t, nil)
	fx.advance(90 * time.Second)
	code, s := fx.get(t, "/api/v1/summary")
	if code != http.StatusOK {
		t.Fatalf("summary: %d %v", code, s)
	}
	hasKeys(t, "summary", s, "version", "started_at", "uptime_seconds", "store_version", "clusters", "instances", "overrides", "counts", "draining")
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
	hasKeys(t, "cluster", web, "name", "eds_name", "version", "total", "counts", "overrides", "probes")
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
		"priority", "meta", "source", "override", "liveness", "readiness")
	if w1["id"] != "web-1" || w1["address"] != "web-1.local:8000" || w1["status"] != "HEALTHY" || w1["zone"] != "z1" ||
		w1["since"] != t0.Format(time.RFC3339) || w1["override"] != nil {
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
