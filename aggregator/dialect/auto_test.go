package dialect

import (
	"strings"
	"testing"

	"github.com/vigilhq/vigil/aggregator/probe"
	"github.com/vigilhq/vigil/internal/seedtest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// A body that declares itself JSON (by content type, or by opening an
// object or an array) but does not parse fails in auto, with a reason
// that says so; a body that does not declare JSON is judged by status.
func TestAutoFailsABodyThatDeclaresJSONButDoesNotParse(t *testing.T) {
	cases := []struct {
		code        int
		contentType string
		body        string
		outcome     membership.Outcome
		reason      string // prefix
	}{
		{200, "application/json", `{"status":"ready","checks":{"store":"o`, membership.OutcomeFail, "200 invalid JSON body: "},
		{200, "text/plain", `{"status":"ready"`, membership.OutcomeFail, "200 invalid JSON body: "},
		{200, "", "  [{\"component\":\"stores/MAIN\",", membership.OutcomeFail, "200 invalid JSON body: "},
		{200, "application/json; charset=utf-8", "ok", membership.OutcomeFail, "200 invalid JSON body: body is not JSON"},
		{200, "application/problem+json", "", membership.OutcomeFail, "200 invalid JSON body: body is not JSON"},
		{503, "application/json", `{"status":`, membership.OutcomeFail, "503"},
		{200, "text/plain", "ok", membership.OutcomePass, "200"},
		{200, "", "not ready yet", membership.OutcomePass, "200"},
		{200, "application/json", `"just a string"`, membership.OutcomePass, "200"},
	}
	for _, c := range cases {
		r := &probe.Response{StatusCode: c.code, ContentType: c.contentType, Body: []byte(c.body)}
		got := newEval(t, upstreams.DialectAuto).Evaluate(r)
		if got.Outcome != c.outcome || !strings.HasPrefix(got.Reason, c.reason) {
			t.Errorf("%d %q %q: got %s %q, want %s %q...", c.code, c.contentType, c.body, got.Outcome, got.Reason, c.outcome, c.reason)
		}
	}
}

// The bug as it showed: a healthz engine's 200 cut short on the wire
// passed in auto. Served by a real server and read by vigil's prober.
func TestAutoFailsATruncatedJSONBodyOverHTTP(t *testing.T) {
	full := seedtest.HealthzReady
	cut := seedtest.Response{Name: "healthz-ready-truncated", Status: 200, ContentType: full.ContentType,
		Body: full.Body[:len(full.Body)/2]}
	srv := seedtest.NewServer(t, cut)
	p := &upstreams.Probe{Kind: upstreams.KindHTTP, Scheme: "http", Path: "/", Dialect: upstreams.DialectAuto,
		ExpectedStatuses: upstreams.DefaultStatuses, MaxBodyBytes: 64 << 10}
	resp := probeOnce(t, srv.Addr(), p)
	got := newEval(t, upstreams.DialectAuto).Evaluate(&resp)
	if got.Outcome != membership.OutcomeFail || !strings.HasPrefix(got.Reason, "200 invalid JSON body") {
		t.Errorf("a truncated JSON body in auto: %s %q, want a failure that says the body is invalid JSON", got.Outcome, got.Reason)
	}
}
