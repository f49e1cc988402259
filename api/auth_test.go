package api

import (
	"net/http"
	"testing"
)

var mutating = []string{
	"/api/v1/clusters/web/instances/web-1/drain",
	"/api/v1/clusters/web/instances/web-1/undrain",
	"/api/v1/clusters/web/drain",
	"/api/v1/clusters/web/undrain",
	"/api/v1/reload",
}

func TestMutatingCallsRefusedWithoutConfiguredToken(t *testing.T) {
	fx := newFixture(t, func(o *Options) { o.Token = "" })
	for _, path := range mutating {
		for _, tok := range []string{"", "anything"} {
			code, body := fx.do(t, http.MethodPost, path, tok, `{"reason":"x"}`)
			if code != http.StatusForbidden || body["error"] == nil {
				t.Errorf("POST %s (token %q) = %d %v, want 403", path, tok, code, body)
			}
		}
	}
	if c, _ := fx.store.Cluster("web"); c.Members[0].Override != nil {
		t.Error("a refused drain changed the instance")
	}
	// Read-only calls and probes stay open.
	for _, path := range []string{"/api/v1/summary", "/api/v1/clusters", "/api/v1/clusters/web", "/api/v1/events", "/healthz", "/readyz"} {
		if code, _ := fx.get(t, path); code != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, code)
		}
	}
}

func TestMutatingCallsNeedTheRightToken(t *testing.T) {
	fx := newFixture(t, nil) // token "s3cret"
	cases := []struct {
		name string
		hdr  string
	}{
		{"missing", ""},
		{"wrong", "Bearer s3crex"},
		{"prefix", "Bearer s3cre"},
		{"longer", "Bearer s3cret2"},
		{"basic scheme", "Basic s3cret"},
		{"no scheme", "s3cret"},
	}
	for _, path := range mutating {
		for _, tc := range cases {
			var hdr []string
			if tc.hdr != "" {
				hdr = []string{"Authorization", tc.hdr}
			}
			code, body := fx.do(t, http.MethodPost, path, "", "", hdr...)
			if code != http.StatusUnauthorized || body["error"] == nil {
				t.Errorf("POST %s with %s token = %d %v, want 401", path, tc.name, code, body)
			}
		}
	}
	if c, _ := fx.store.Cluster("web"); c.Members[0].Override != nil {
		t.Error("an unauthorised drain changed the instance")
	}
	code, body := fx.do(t, http.MethodPost, "/api/v1/clusters/web/instances/web-1/drain", "", "", "Authorization", "bearer s3cret")
	if code != http.StatusOK {
		t.Errorf("right token (lower-case scheme) = %d %v", code, body)
	}
}
