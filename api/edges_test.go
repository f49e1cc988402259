package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// errorOf returns the message of a JSON error body, failing the test when
// the body is not one.
func errorOf(t *testing.T, what string, resp *http.Response, body string) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
		t.Errorf("%s: body %q is not {\"error\": ...} (%v)", what, body, err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
	return e.Error
}

func (fx *fixture) undrained(t *testing.T, what string) {
	t.Helper()
	if m := member(t, fx.store, "web", "web-1"); m.Override != nil {
		t.Errorf("%s changed the instance: %+v", what, m.Override)
	}
}

const drainWeb1 = "/api/v1/clusters/web/instances/web-1/drain"

func TestDrainBodyOverTheLimitIs413(t *testing.T) {
	fx := newFixture(t, nil)
	for name, body := range map[string]string{
		"long reason":           `{"reason":"` + strings.Repeat("x", maxBodyBytes) + `"}`,
		"whitespace after JSON": `{"reason":"x"}` + strings.Repeat(" ", maxBodyBytes),
	} {
		resp, raw := fx.send(t, http.MethodPost, drainWeb1, "s3cret", body)
		msg := errorOf(t, name, resp, raw)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "larger than 65536 bytes") {
			t.Errorf("%s: %d %q, want 413 naming the 65536-byte limit", name, resp.StatusCode, msg)
		}
		fx.undrained(t, name)
	}
	// Up to the limit is fine.
	body := `{"reason":"x"}`
	body += strings.Repeat(" ", maxBodyBytes-len(body))
	if resp, raw := fx.send(t, http.MethodPost, drainWeb1, "s3cret", body); resp.StatusCode != http.StatusOK {
		t.Errorf("a body of exactly %d bytes: %d %s", maxBodyBytes, resp.StatusCode, raw)
	}
}

func TestDrainBodyWithTrailingDataIsRejected(t *testing.T) {
	fx := newFixture(t, nil)
	for _, body := range []string{
		`{"reason":"x"} {"reason":"y"}`,
		`{"reason":"x"}garbage`,
		`{"reason":"x"}}`,
		`{"reason":"x"},`,
		`{"reason":"x"} 1`,
	} {
		resp, raw := fx.send(t, http.MethodPost, drainWeb1, "s3cret", body)
		msg := errorOf(t, body, resp, raw)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg, "data after the JSON object") {
			t.Errorf("%s: %d %q, want 400 naming the data after the object", body, resp.StatusCode, msg)
		}
		fx.undrained(t, body)
	}
	if resp, raw := fx.send(t, http.MethodPost, drainWeb1, "s3cret", "{\"reason\":\"x\"}\r\n\t \n"); resp.StatusCode != http.StatusOK {
		t.Errorf("trailing whitespace: %d %s, want 200", resp.StatusCode, raw)
	}
}

func TestDrainTTLHasAMaximum(t *testing.T) {
	fx := newFixture(t, nil)
	for _, ttl := range []string{"2540400h", "721h", "720h1s"} { // 290 years, and just past the maximum
		resp, raw := fx.send(t, http.MethodPost, drainWeb1, "s3cret", `{"ttl":"`+ttl+`"}`)
		msg := errorOf(t, ttl, resp, raw)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg, "longer than the maximum, 720h (30 days)") {
			t.Errorf("ttl %s: %d %q, want 400 naming the maximum", ttl, resp.StatusCode, msg)
		}
		fx.undrained(t, "ttl "+ttl)
	}
	code, body := fx.do(t, http.MethodPost, drainWeb1, "s3cret", `{"ttl":"720h"}`)
	if code != http.StatusOK || body["override"].(map[string]any)["expires"] != t0.Add(720*time.Hour).Format(time.RFC3339) {
		t.Errorf("ttl at the maximum: %d %v", code, body)
	}
}

func TestUserHeaderOverTheLimitIsRejected(t *testing.T) {
	fx := newFixture(t, nil)
	for name, user := range map[string]string{
		"100 KB":      strings.Repeat("a", 100<<10),
		"65 bytes":    strings.Repeat("b", maxUserLen+1),
		"unprintable": "al\tice",
	} {
		for _, path := range mutating {
			resp, raw := fx.send(t, http.MethodPost, path, "s3cret", `{"reason":"x"}`, userHeader, user)
			msg := errorOf(t, name+" "+path, resp, raw)
			if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(msg, "X-Vigil-User ") {
				t.Errorf("%s on %s: %d %q, want 400 naming X-Vigil-User", name, path, resp.StatusCode, msg)
			}
		}
		fx.undrained(t, name)
	}
	// At the limit the name is recorded as given; a missing one is "admin".
	user := strings.Repeat("c", maxUserLen)
	if code, body := fx.do(t, http.MethodPost, drainWeb1, "s3cret", "", userHeader, user); code != http.StatusOK ||
		body["override"].(map[string]any)["by"] != user {
		t.Errorf("a %d-byte name: %d %v", maxUserLen, code, body)
	}
	// A bad name from a caller without the token is still a 401: the token comes first.
	if resp, _ := fx.send(t, http.MethodPost, drainWeb1, "", "", userHeader, strings.Repeat("a", 1000)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token, long name: %d, want 401", resp.StatusCode)
	}
}

func TestWrongMethodIs405WithAllow(t *testing.T) {
	fx := newFixture(t, nil)
	type call struct{ method, path, allow string }
	var calls []call
	for _, path := range mutating {
		calls = append(calls, call{http.MethodGet, path, "POST"}, call{http.MethodPut, path, "POST"}, call{http.MethodDelete, path, "POST"})
	}
	for _, path := range []string{"/api/v1/summary", "/api/v1/clusters", "/api/v1/clusters/web", "/api/v1/clusters/web/instances/web-1",
		"/api/v1/events", "/healthz", "/readyz"} {
		calls = append(calls, call{http.MethodPost, path, "GET, HEAD"}, call{http.MethodDelete, path, "GET, HEAD"})
	}
	for _, c := range calls {
		resp, raw := fx.send(t, c.method, c.path, "s3cret", "")
		what := c.method + " " + c.path
		msg := errorOf(t, what, resp, raw)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != c.allow || !strings.Contains(msg, "allowed: "+c.allow) {
			t.Errorf("%s: %d Allow %q %q, want 405 with Allow %q", what, resp.StatusCode, resp.Header.Get("Allow"), msg, c.allow)
		}
	}
	// HEAD on a POST-only call: 405 with Allow, and no body.
	if resp, _ := fx.send(t, http.MethodHead, "/api/v1/reload", "s3cret", ""); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("HEAD /api/v1/reload: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	// A path with no route at all stays 404, whatever the method.
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		resp, raw := fx.send(t, method, "/api/v1/nothing-here", "s3cret", "")
		if msg := errorOf(t, method, resp, raw); resp.StatusCode != http.StatusNotFound || resp.Header.Get("Allow") != "" || !strings.Contains(msg, "no such endpoint") {
			t.Errorf("%s /api/v1/nothing-here: %d Allow %q %q, want 404", method, resp.StatusCode, resp.Header.Get("Allow"), msg)
		}
	}
	fx.undrained(t, "a wrong method")
}
