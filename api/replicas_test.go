package api

import (
	"net/http"
	"testing"
)

// With replicas off, /api/v1/replicas says so, the instance view has no
// votes and no verdict stream is served. (With replicas on, replicas/e2e
// reads both through real replicas.)
func TestReplicasOff(t *testing.T) {
	fx := newFixture(t, nil)
	code, body := fx.get(t, "/api/v1/replicas")
	if code != http.StatusNotFound || body["error"] != "replicas are off (no replicas block with enabled: true)" {
		t.Errorf("GET /api/v1/replicas: %d %v", code, body)
	}
	code, body = fx.get(t, "/api/v1/clusters/web/instances/web-1")
	if _, ok := body["replicas"]; code != http.StatusOK || ok {
		t.Errorf("instance view with replicas off: %d, has replicas: %v", code, ok)
	}
	if code, _ := fx.get(t, "/api/v1/replica/verdicts"); code != http.StatusNotFound {
		t.Errorf("verdict stream served with replicas off: %d", code)
	}
}
