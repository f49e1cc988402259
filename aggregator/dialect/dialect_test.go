package dialect

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/aggregator/probe"
	"github.com/vigilhq/vigil/internal/seedtest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// responseOf reads a seed response's raw bytes with net/http's parser, the
// way any HTTP client would see it.
func responseOf(t testing.TB, s seedtest.Response) *probe.Response {
	t.Helper()
	hr, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(s.Raw())), nil)
	if err != nil {
		t.Fatalf("%s: %v", s.Name, err)
	}
	body, _ := io.ReadAll(hr.Body)
	r := &probe.Response{StatusCode: hr.StatusCode, Body: body, ContentType: hr.Header.Get("Content-Type"),
		Location: hr.Header.Get("Location"), ImmediateFail: hr.Header.Get("x-envoy-immediate-health-check-fail") != ""}
	r.Headers = map[string]string{}
	for k := range hr.Header {
		r.Headers[strings.ToLower(k)] = hr.Header.Get(k)
	}
	return r
}

func newEval(t testing.TB, d upstreams.Dialect) Evaluator {
	t.Helper()
	e, err := NewFactory().New(&upstreams.Probe{Kind: upstreams.KindHTTP, Dialect: d})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type seedCase struct {
	seed    seedtest.Response
	dialect upstreams.Dialect
	outcome membership.Outcome
	reason  string
	comps   []membership.Component
}

var seedCases = []seedCase{
	{seedtest.DynamoFrontendLive, upstreams.DialectDynamo, membership.OutcomePass, "200 live", nil},
	// Dynamo's frontend says 200 while no worker is registered: not ready.
	{seedtest.DynamoFrontendNoWorkers, upstreams.DialectDynamo, membership.OutcomeFail, "200 unhealthy: No endpoints available", nil},
	{seedtest.DynamoFrontendHealthy, upstreams.DialectDynamo, membership.OutcomePass, "200 healthy",
		[]membership.Component{{Name: "dyn://dynamo.backend.generate", Status: "registered"}}},
	{seedtest.DynamoWorkerNotReady, upstreams.DialectDynamo, membership.OutcomeFail, "503 notready, endpoints.generate=notready",
		[]membership.Component{{Name: "generate", Status: "notready"}}},
	{seedtest.DynamoWorkerReady, upstreams.DialectDynamo, membership.OutcomePass, "200 ready",
		[]membership.Component{{Name: "clear_kv_blocks", Status: "ready"}, {Name: "generate", Status: "ready"}, {Name: "load_metrics", Status: "ready"}}},

	{seedtest.HealthzLive, upstreams.DialectHealthz, membership.OutcomePass, "200 ok", nil},
	{seedtest.HealthzReady, upstreams.DialectHealthz, membership.OutcomePass, "200 ready", []membership.Component{{Name: "store", Status: "ok"}}},
	{seedtest.HealthzNotReady, upstreams.DialectHealthz, membership.OutcomeFail, "503 not_ready, checks.queue=unavailable",
		[]membership.Component{{Name: "store", Status: "ok"}, {Name: "queue", Status: "unavailable"}}},
	{seedtest.HealthzDraining, upstreams.DialectHealthz, membership.OutcomeDrain, "503 not_ready draining", nil},

	{seedtest.NativeLinkHealthy, upstreams.DialectNativeLink, membership.OutcomePass, "200 all 2 components ok",
		[]membership.Component{{Name: "stores/MAIN_CAS", Status: "Ok", Message: "Store operational"}, {Name: "scheduler/MAIN_SCHEDULER", Status: "Ok", Message: "Scheduler running"}}},
	{seedtest.NativeLinkFailed, upstreams.DialectNativeLink, membership.OutcomeFail,
		"503 stores/S3_STORE Failed: Connection timeout (Failed to connect to S3)",
		[]membership.Component{{Name: "stores/S3_STORE", Status: "Failed", Message: "Connection timeout"}}},
	{seedtest.NativeLinkTimeout, upstreams.DialectNativeLink, membership.OutcomeFail, "503 stores/REDIS Timeout after 5.2s",
		[]membership.Component{{Name: "stores/MAIN_CAS", Status: "Ok", Message: "Store operational"}, {Name: "stores/REDIS", Status: "Timeout", Message: ""}}},
	{seedtest.NativeLinkEmpty, upstreams.DialectNativeLink, membership.OutcomePass, "200 no components", nil},
	{seedtest.NativeLinkInternal, upstreams.DialectNativeLink, membership.OutcomeFail, "500", nil},
	{seedtest.NativeLinkInitializing, upstreams.DialectNativeLink, membership.OutcomeFail,
		"503 workers/LOCAL Initializing: Connecting to scheduler",
		[]membership.Component{{Name: "workers/LOCAL", Status: "Initializing", Message: "Connecting to scheduler"}}},
	{seedtest.NativeLinkWarning, upstreams.DialectNativeLink, membership.OutcomeDegraded, "200 stores/FS_CACHE Warning: Disk 91% full",
		[]membership.Component{{Name: "stores/MAIN_CAS", Status: "Ok", Message: "Store operational"}, {Name: "stores/FS_CACHE", Status: "Warning", Message: "Disk 91% full"}}},

	{seedtest.AMSDALSuccess, upstreams.DialectAMSDAL, membership.OutcomePass, "200 success",
		[]membership.Component{{Name: "ConnectionsHealthchecker", Status: "success", Message: "Connection is alive"}}},
	{seedtest.AMSDALError, upstreams.DialectAMSDAL, membership.OutcomeFail,
		"503 error, RedisHealthchecker: Redis check failed: connection refused",
		[]membership.Component{{Name: "ConnectionsHealthchecker", Status: "success", Message: "Connection is alive"},
			{Name: "RedisHealthchecker", Status: "error", Message: "Redis check failed: connection refused"}}},
}

func checkVerdict(t *testing.T, name string, got Verdict, outcome membership.Outcome, reason string, comps []membership.Component) {
	t.Helper()
	if got.Outcome != outcome || got.Reason != reason {
		t.Errorf("%s: got %s %q, want %s %q", name, got.Outcome, got.Reason, outcome, reason)
	}
	if len(comps) == 0 && len(got.Components) == 0 {
		return
	}
	if !reflect.DeepEqual(got.Components, comps) {
		t.Errorf("%s: components\n got %+v\nwant %+v", name, got.Components, comps)
	}
}

func TestSeedResponsesInTheirDialect(t *testing.T) {
	for _, c := range seedCases {
		got := newEval(t, c.dialect).Evaluate(responseOf(t, c.seed))
		checkVerdict(t, c.seed.Name, got, c.outcome, c.reason, c.comps)
	}
}

// Auto must reach the same verdict as the right dialect on every seed body.
func TestAutoPicksTheDialectFromTheShape(t *testing.T) {
	for _, c := range seedCases {
		got := newEval(t, upstreams.DialectAuto).Evaluate(responseOf(t, c.seed))
		if c.seed.Name == seedtest.NativeLinkInternal.Name {
			continue // not JSON: auto falls back to status; checked below
		}
		checkVerdict(t, "auto "+c.seed.Name, got, c.outcome, c.reason, c.comps)
	}
	got := newEval(t, upstreams.DialectAuto).Evaluate(responseOf(t, seedtest.NativeLinkInternal))
	checkVerdict(t, "auto 500 text", got, membership.OutcomeFail, "500", nil)
	unknown := seedtest.Response{Name: "unknown-shape", Status: 200, ContentType: "application/json", Body: `{"up":true}`}
	got = newEval(t, upstreams.DialectAuto).Evaluate(responseOf(t, unknown))
	checkVerdict(t, "auto unknown shape", got, membership.OutcomePass, "200", nil)
}

func TestStatusDialectIgnoresTheBody(t *testing.T) {
	e := newEval(t, upstreams.DialectStatus)
	checkVerdict(t, "200 unhealthy body", e.Evaluate(responseOf(t, seedtest.DynamoFrontendNoWorkers)), membership.OutcomePass, "200", nil)
	checkVerdict(t, "503", e.Evaluate(responseOf(t, seedtest.HealthzNotReady)), membership.OutcomeFail, "503", nil)
	redirect := seedtest.Response{Name: "redirect", Status: 302, Headers: [][2]string{{"Location", "/login"}}}
	checkVerdict(t, "302", e.Evaluate(responseOf(t, redirect)), membership.OutcomeFail, "302 redirect to /login (not followed)", nil)
	// A JSON dialect names the redirect too, rather than the body it cannot read.
	for _, d := range []upstreams.Dialect{upstreams.DialectHealthz, upstreams.DialectDynamo, upstreams.DialectAMSDAL, upstreams.DialectNativeLink} {
		checkVerdict(t, "302 "+string(d), newEval(t, d).Evaluate(responseOf(t, redirect)), membership.OutcomeFail,
			"302 redirect to /login (not followed)", nil)
	}
}

func TestExpectedStatuses(t *testing.T) {
	e, err := NewFactory().New(&upstreams.Probe{Dialect: upstreams.DialectStatus,
		ExpectedStatuses: upstreams.StatusSet{{Lo: 200, Hi: 200}, {Lo: 429, Hi: 429}}})
	if err != nil {
		t.Fatal(err)
	}
	for code, want := range map[int]membership.Outcome{200: membership.OutcomePass, 204: membership.OutcomeFail, 429: membership.OutcomePass, 500: membership.OutcomeFail} {
		if got := e.Evaluate(&probe.Response{StatusCode: code}); got.Outcome != want {
			t.Errorf("status %d: got %s, want %s", code, got.Outcome, want)
		}
	}
}

func TestImmediateHealthCheckFailHeaderDrains(t *testing.T) {
	seed := seedtest.HealthzReady
	seed.Headers = [][2]string{{"x-envoy-immediate-health-check-fail", "true"}}
	for _, d := range []upstreams.Dialect{upstreams.DialectAuto, upstreams.DialectStatus, upstreams.DialectHealthz, upstreams.DialectDynamo} {
		got := newEval(t, d).Evaluate(responseOf(t, seed))
		checkVerdict(t, string(d), got, membership.OutcomeDrain, "200 x-envoy-immediate-health-check-fail", nil)
	}
}

func TestGarbageBodiesFailWithAReasonNeverAPanic(t *testing.T) {
	bodies := []string{"", "not json", "{", `{"status":`, "[1,2", "\x00\xff\xfe", `"just a string"`, `42`, `null`,
		`[{"component":1,"status":7}]`, `{"status":{"nested":true},"checks":[1],"endpoints":"x","details":{}}`,
		strings.Repeat("[", 10000)}
	for _, d := range []upstreams.Dialect{upstreams.DialectHealthz, upstreams.DialectDynamo, upstreams.DialectNativeLink, upstreams.DialectAMSDAL} {
		for _, body := range bodies {
			r := &probe.Response{StatusCode: 200, Body: []byte(body)}
			got := newEval(t, d).Evaluate(r)
			if got.Outcome == membership.OutcomePass && body != "" {
				t.Errorf("%s %q: passed", d, body)
			}
			if got.Reason == "" {
				t.Errorf("%s %q: empty reason", d, body)
			}
		}
	}
	got := newEval(t, upstreams.DialectDynamo).Evaluate(&probe.Response{StatusCode: 200, Body: []byte("not json")})
	if !strings.HasPrefix(got.Reason, "200 invalid JSON body") {
		t.Errorf("reason %q does not say the body is not JSON", got.Reason)
	}
}

func TestKubernetesPlainOKPassesHealthz(t *testing.T) {
	got := newEval(t, upstreams.DialectHealthz).Evaluate(&probe.Response{StatusCode: 200, Body: []byte("ok")})
	checkVerdict(t, "plain ok", got, membership.OutcomePass, "200 ok", nil)
}

func TestTransportErrorsFail(t *testing.T) {
	got := newEval(t, upstreams.DialectAuto).Evaluate(&probe.Response{Err: errors.New("timeout after 1s")})
	checkVerdict(t, "timeout", got, membership.OutcomeFail, "timeout after 1s", nil)
}

func TestGRPCAndTCPKinds(t *testing.T) {
	f := NewFactory()
	g, _ := f.New(&upstreams.Probe{Kind: upstreams.KindGRPC})
	checkVerdict(t, "serving", g.Evaluate(&probe.Response{StatusCode: 200, GRPCStatus: "SERVING"}), membership.OutcomePass, "SERVING", nil)
	checkVerdict(t, "not serving", g.Evaluate(&probe.Response{StatusCode: 503, GRPCStatus: "NOT_SERVING"}), membership.OutcomeFail, "NOT_SERVING", nil)
	tc, _ := f.New(&upstreams.Probe{Kind: upstreams.KindTCP})
	checkVerdict(t, "tcp", tc.Evaluate(&probe.Response{}), membership.OutcomePass, "connected", nil)
}

func TestCELDialect(t *testing.T) {
	f := NewFactory()
	p := &upstreams.Probe{Dialect: upstreams.DialectCEL, CEL: upstreams.CELRules{
		Pass:     `status == 200 && body.state == "up"`,
		Drain:    `has(body.draining) && body.draining`,
		Degraded: `latency_ms > 500.0 || headers["x-load"] == "high"`,
	}}
	e, err := f.New(p)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		r    probe.Response
		want membership.Outcome
	}{
		{probe.Response{StatusCode: 200, Body: []byte(`{"state":"up"}`)}, membership.OutcomePass},
		{probe.Response{StatusCode: 200, Body: []byte(`{"state":"down"}`)}, membership.OutcomeFail},
		{probe.Response{StatusCode: 503, Body: []byte(`{"state":"up","draining":true}`)}, membership.OutcomeDrain},
		{probe.Response{StatusCode: 200, Body: []byte(`{"state":"up"}`), Headers: map[string]string{"x-load": "high"}}, membership.OutcomeDegraded},
		{probe.Response{StatusCode: 200, Body: []byte(`not json`)}, membership.OutcomeFail},
	}
	for i, c := range cases {
		if got := e.Evaluate(&c.r); got.Outcome != c.want {
			t.Errorf("case %d: got %s (%s), want %s", i, got.Outcome, got.Reason, c.want)
		}
	}
	// The same rule set compiles once and is shared.
	e2, _ := f.New(p)
	if e.(*celEvaluator).prog != e2.(*celEvaluator).prog {
		t.Error("identical CEL rules compiled twice")
	}
	for _, bad := range []string{`status ==`, `status + 1`, `nosuchvar == 1`} {
		if CheckCEL(bad) == nil {
			t.Errorf("CheckCEL(%q) accepted", bad)
		}
	}
	if _, err := f.New(&upstreams.Probe{Dialect: upstreams.DialectCEL}); err == nil {
		t.Error("cel without pass accepted")
	}
}

// An unchanged answer returns the very same verdict (no new strings).
func TestUnchangedResponseReusesTheVerdict(t *testing.T) {
	e := newEval(t, upstreams.DialectHealthz)
	a := e.Evaluate(responseOf(t, seedtest.HealthzNotReady))
	b := e.Evaluate(responseOf(t, seedtest.HealthzNotReady))
	if &a.Components[0] != &b.Components[0] || a.Reason != b.Reason {
		t.Error("identical responses built a new verdict")
	}
	c := e.Evaluate(responseOf(t, seedtest.HealthzReady))
	if c.Outcome != membership.OutcomePass || c.Reason != "200 ready" {
		t.Errorf("after change: %+v", c)
	}
}
