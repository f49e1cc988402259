package api

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/overrides"
)

func member(t *testing.T, store *membership.Store, cluster, id string) membership.Member {
	t.Helper()
	c, ok := store.Cluster(cluster)
	if !ok {
		t.Fatalf("no cluster %s", cluster)
	}
	m, ok := c.Member(id)
	if !ok {
		t.Fatalf("no member %s/%s", cluster, id)
	}
	return *m
}

func openOverrides(t *testing.T, dir string, fx *fixture) *overrides.Store {
	t.Helper()
	o, err := overrides.Open(dir, overrides.WithClock(fx.clock))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestDrainWithTTLPersistsAndSurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	fx := newFixture(t, nil)
	ov := openOverrides(t, dir, fx)
	fx.srv.opts.Overrides = ov

	// Drain web-1 for 10 minutes as alice.
	code, body := fx.do(t, http.MethodPost, "/api/v1/clusters/web/instances/web-1/drain", "s3cret",
		`{"reason":"kernel upgrade","ttl":"10m"}`, "X-Vigil-User", "alice")
	if code != http.StatusOK {
		t.Fatalf("drain: %d %v", code, body)
	}
	o := body["override"].(map[string]any)
	if body["cluster"] != "web" || body["instance"] != "web-1" || o["reason"] != "kernel upgrade" || o["by"] != "alice" ||
		o["since"] != t0.Format(time.RFC3339) || o["expires"] != t0.Add(10*time.Minute).Format(time.RFC3339) {
		t.Errorf("drain answer = %v", body)
	}
	// Persisted before the answer.
	got, ok, err := ov.Get("web", "web-1")
	if err != nil || !ok || got.Reason != "kernel upgrade" || got.By != "alice" || !got.Expires.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("persisted override = %+v, %v, %v", got, ok, err)
	}
	// Applied: DRAINING, with an override event naming who and why.
	if m := member(t, fx.store, "web", "web-1"); m.Status != membership.StatusDraining || m.Override == nil || m.Override.By != "alice" {
		t.Errorf("web-1 after drain = %+v", m)
	}
	evs := fx.store.Events(membership.EventQuery{Instance: "web-1", Limit: 1})
	if len(evs) != 1 || evs[0].Kind != membership.EventOverride || evs[0].By != "alice" || evs[0].Reason != "manual drain: kernel upgrade" {
		t.Errorf("override event = %+v", evs)
	}
	_, d := fx.get(t, "/api/v1/clusters/web/instances/web-1")
	if d["status"] != "DRAINING" || d["override"].(map[string]any)["by"] != "alice" {
		t.Errorf("instance view after drain = %v", d)
	}

	// Drain web-2 with no ttl and no body; the caller defaults to "admin".
	code, body = fx.do(t, http.MethodPost, "/api/v1/clusters/web/instances/web-2/drain", "s3cret", "")
	if code != http.StatusOK || body["override"].(map[string]any)["by"] != "admin" || body["override"].(map[string]any)["reason"] != "manual drain" {
		t.Fatalf("drain web-2: %d %v", code, body)
	}
	if _, ok := body["override"].(map[string]any)["expires"]; ok {
		t.Errorf("override without ttl has expires: %v", body)
	}

	// Restart 5 minutes later: a fresh store and aggregator, the reopened
	// database, and RestoreOverrides puts both drains back.
	if err := ov.Close(); err != nil {
		t.Fatal(err)
	}
	fx.advance(5 * time.Minute)
	store2 := membership.NewStore(100)
	seedStore(store2)
	agg2 := newFakeAggregator(store2, fx.clock)
	ov2 := openOverrides(t, dir, fx)
	defer ov2.Close() //nolint:errcheck // test cleanup
	n, err := RestoreOverrides(ov2, agg2, quiet)
	if err != nil || n != 2 {
		t.Fatalf("RestoreOverrides = %d, %v; want 2", n, err)
	}
	m1 := member(t, store2, "web", "web-1")
	if m1.Status != membership.StatusDraining || m1.Override == nil || m1.Override.Reason != "kernel upgrade" || !m1.Override.Expires.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("web-1 after restart = %+v", m1)
	}
	if m := member(t, store2, "web", "web-2"); m.Status != membership.StatusDraining {
		t.Errorf("web-2 after restart = %+v", m)
	}

	// Restart again after the ttl: web-1's drain has ended, web-2's holds.
	fx.advance(6 * time.Minute)
	store3 := membership.NewStore(100)
	seedStore(store3)
	n, err = RestoreOverrides(ov2, newFakeAggregator(store3, fx.clock), quiet)
	if err != nil || n != 1 {
		t.Fatalf("RestoreOverrides after ttl = %d, %v; want 1", n, err)
	}
	if m := member(t, store3, "web", "web-1"); m.Status != membership.StatusHealthy || m.Override != nil {
		t.Errorf("web-1 restored after its ttl: %+v", m)
	}
	if entries, _ := ov2.List(); len(entries) != 1 || entries[0].Instance != "web-2" {
		t.Errorf("persisted after ttl = %+v", entries)
	}
}

func TestUndrain(t *testing.T) {
	fx := newFixture(t, nil)
	ov := openOverrides(t, t.TempDir(), fx)
	defer ov.Close() //nolint:errcheck // test cleanup
	fx.srv.opts.Overrides = ov

	if code, body := fx.do(t, http.MethodPost, "/api/v1/clusters/web/instances/web-3/drain", "s3cret", `{"reason":"bad disk"}`); code != http.StatusOK {
		t.Fatalf("drain: %d %v", code, body)
	}
	code, body := fx.do(t, http.MethodPost, "/api/v1/clusters/web/instances/web-3/undrain", "s3cret", "", "X-Vigil-User", "bob")
	if code != http.StatusOK || body["override"] != nil {
		t.Fatalf("undrain: %d %v", code, body)
	}
	if m := member(t, fx.store, "web", "web-3"); m.Status != membership.StatusUnhealthy || m.Override != nil {
		t.Errorf("web-3 after undrain = %+v (want back to UNHEALTHY)", m)
	}
	if _, ok, _ := ov.Get("web", "web-3"); ok {
		t.Error("undrain left the persisted override")
	}
}

func TestDrainCluster(t *testing.T) {
	fx := newFixture(t, nil)
	ov := openOverrides(t, t.TempDir(), fx)
	defer ov.Close() //nolint:errcheck // test cleanup
	fx.srv.opts.Overrides = ov

	code, body := fx.do(t, http.MethodPost, "/api/v1/clusters/web/drain", "s3cret", `{"reason":"zone maintenance","ttl":"1h"}`, "X-Vigil-User", "carol")
	if code != http.StatusOK {
		t.Fatalf("cluster drain: %d %v", code, body)
	}
	if ids := body["instances"].([]any); len(ids) != 3 || ids[0] != "web-1" || ids[2] != "web-3" {
		t.Errorf("drained instances = %v", ids)
	}
	c, _ := fx.store.Cluster("web")
	for _, m := range c.Members {
		if m.Status != membership.StatusDraining || m.Override == nil || m.Override.By != "carol" {
			t.Errorf("%s after cluster drain = %+v", m.ID, m)
		}
	}
	if entries, _ := ov.List(); len(entries) != 3 {
		t.Errorf("persisted = %+v, want 3", entries)
	}
	if m := member(t, fx.store, "db", "db-1"); m.Status != membership.StatusDegraded {
		t.Errorf("db-1 changed by a drain of web: %+v", m)
	}
	_, s := fx.get(t, "/api/v1/summary")
	if s["overrides"] != 3.0 || s["counts"].(map[string]any)["DRAINING"] != 3.0 {
		t.Errorf("summary after cluster drain = %v", s)
	}

	code, body = fx.do(t, http.MethodPost, "/api/v1/clusters/web/undrain", "s3cret", "")
	if code != http.StatusOK || len(body["instances"].([]any)) != 3 {
		t.Fatalf("cluster undrain: %d %v", code, body)
	}
	if m := member(t, fx.store, "web", "web-2"); m.Status != membership.StatusHealthy || m.Override != nil {
		t.Errorf("web-2 after cluster undrain = %+v", m)
	}
	if entries, _ := ov.List(); len(entries) != 0 {
		t.Errorf("persisted after undrain = %+v", entries)
	}
}

func TestDrainRejects(t *testing.T) {
	fx := newFixture(t, nil)
	ov := openOverrides(t, t.TempDir(), fx)
	defer ov.Close() //nolint:errcheck // test cleanup
	fx.srv.opts.Overrides = ov

	cases := []struct {
		path, body string
		want       int
	}{
		{"/api/v1/clusters/web/instances/nope/drain", `{}`, http.StatusNotFound},
		{"/api/v1/clusters/nope/instances/web-1/drain", `{}`, http.StatusNotFound},
		{"/api/v1/clusters/nope/drain", `{}`, http.StatusNotFound},
		{"/api/v1/clusters/nope/undrain", `{}`, http.StatusNotFound},
		{"/api/v1/clusters/web/instances/nope/undrain", `{}`, http.StatusNotFound},
		{"/api/v1/clusters/web/instances/web-1/drain", `{"ttl":"soon"}`, http.StatusBadRequest},
		{"/api/v1/clusters/web/instances/web-1/drain", `{"ttl":"-5m"}`, http.StatusBadRequest},
		{"/api/v1/clusters/web/instances/web-1/drain", `{"reson":"typo"}`, http.StatusBadRequest},
		{"/api/v1/clusters/web/instances/web-1/drain", `not json`, http.StatusBadRequest},
		{"/api/v1/clusters/web/drain", `{"ttl":"0s"}`, http.StatusBadRequest},
	}
	for _, tc := range cases {
		code, body := fx.do(t, http.MethodPost, tc.path, "s3cret", tc.body)
		if code != tc.want || body["error"] == nil {
			t.Errorf("POST %s %s = %d %v, want %d with an error", tc.path, tc.body, code, body, tc.want)
		}
	}
	if entries, _ := ov.List(); len(entries) != 0 {
		t.Errorf("rejected drains persisted: %+v", entries)
	}
	if m := member(t, fx.store, "web", "web-1"); m.Override != nil {
		t.Errorf("rejected drain applied: %+v", m)
	}
}

func TestRestoreKeepsUnknownInstances(t *testing.T) {
	fx := newFixture(t, nil)
	ov := openOverrides(t, t.TempDir(), fx)
	defer ov.Close() //nolint:errcheck // test cleanup
	if err := ov.Put("gone", "x", membership.Override{Reason: "r", By: "a", Since: t0}); err != nil {
		t.Fatal(err)
	}
	if err := ov.Put("web", "web-1", membership.Override{Reason: "r", By: "a", Since: t0}); err != nil {
		t.Fatal(err)
	}
	n, err := RestoreOverrides(ov, fx.agg, quiet)
	if err != nil || n != 1 {
		t.Fatalf("RestoreOverrides = %d, %v; want 1", n, err)
	}
	if _, ok, _ := ov.Get("gone", "x"); !ok {
		t.Error("override of an instance unknown at restore time was dropped")
	}
}
