package fleet

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHTTPFormats checks status, content type, body and the drain header of
// every HTTP format's liveness and readiness paths in every live state.
func TestHTTPFormats(t *testing.T) {
	t.Parallel()
	const (
		json200 = "application/json"
		text    = "text/plain; charset=utf-8"
		hdr     = "x-envoy-immediate-health-check-fail"
	)
	type want struct {
		code  int
		ctype string
		body  string // exact, unless empty
		drain bool
	}
	f := startFleet(t, Spec{N: 7, Formats: []Format{FormatDynamoFrontend, FormatDynamoWorker, FormatHealthz, FormatNativeLink, FormatAMSDAL, FormatStatus, FormatNativeLink}})
	c := newClient(t)
	cases := []struct {
		format Format
		state  State
		path   string
		want   want
	}{
		{FormatDynamoFrontend, StateReady, "/live", want{200, json200, `{"message":"Service is live","status":"live"}`, false}},
		{FormatDynamoFrontend, StateNotReady, "/live", want{200, json200, `{"message":"Service is live","status":"live"}`, false}},
		{FormatDynamoFrontend, StateDraining, "/live", want{200, json200, `{"message":"Service is live","status":"live"}`, false}},
		{FormatDynamoFrontend, StateNotReady, "/health", want{200, json200, `{"instances":[],"message":"No endpoints available","status":"unhealthy"}`, false}},
		{FormatDynamoFrontend, StateDraining, "/health", want{503, json200, `{"instances":[],"message":"No endpoints available","status":"unhealthy"}`, true}},

		{FormatHealthz, StateReady, "/healthz", want{200, json200, `{"status":"ok"}`, false}},
		{FormatHealthz, StateNotReady, "/healthz", want{200, json200, `{"status":"ok"}`, false}},
		{FormatHealthz, StateDraining, "/healthz", want{200, json200, `{"status":"ok"}`, false}},
		{FormatHealthz, StateReady, "/readyz", want{200, json200, `{"status":"ready","checks":{"store":"ok"}}`, false}},
		{FormatHealthz, StateDegraded, "/readyz", want{200, json200, `{"status":"ready","checks":{"store":"ok"}}`, false}},
		{FormatHealthz, StateNotReady, "/readyz", want{503, json200, `{"status":"not_ready","checks":{"store":"ok","queue":"unavailable"}}`, false}},
		{FormatHealthz, StateDraining, "/readyz", want{503, json200, `{"status":"not_ready","draining":true}`, false}},

		{FormatNativeLink, StateReady, "/status", want{200, json200, `[{"namespace":"nativelink","component":"stores/MAIN_CAS","status":{"Ok":{"message":"Store operational"}}},{"namespace":"nativelink","component":"scheduler/MAIN_SCHEDULER","status":{"Ok":{"message":"Scheduler running"}}}]`, false}},
		{FormatNativeLink, StateNotReady, "/status", want{503, json200, `[{"namespace":"nativelink","component":"stores/S3_STORE","status":{"Failed":{"message":"Connection timeout","error":"Failed to connect to S3"}}}]`, false}},
		{FormatNativeLink, StateDraining, "/status", want{503, json200, `[{"namespace":"nativelink","component":"stores/S3_STORE","status":{"Failed":{"message":"Connection timeout","error":"Failed to connect to S3"}}}]`, true}},
		{FormatNativeLink, StateDegraded, "/status", want{200, json200, `[{"namespace":"nativelink","component":"stores/MAIN_CAS","status":{"Ok":{"message":"Store operational"}}},{"namespace":"nativelink","component":"stores/S3_STORE","status":{"Warning":{"message":"High latency to S3"}}}]`, false}},

		{FormatAMSDAL, StateReady, "/api/probes/liveness/", want{200, json200, `{"status":"success","details":[{"status":"success","service":"ConnectionsHealthchecker","message":"Connection is alive"}]}`, false}},
		{FormatAMSDAL, StateNotReady, "/api/probes/liveness/", want{200, json200, `{"status":"success","details":[{"status":"success","service":"ConnectionsHealthchecker","message":"Connection is alive"}]}`, false}},
		{FormatAMSDAL, StateReady, "/api/probes/readiness/", want{200, json200, `{"status":"success","details":[{"status":"success","service":"ConnectionsHealthchecker","message":"Connection is alive"}]}`, false}},
		{FormatAMSDAL, StateNotReady, "/api/probes/readiness/", want{503, json200, `{"status":"error","details":[{"status":"error","service":"ConnectionsHealthchecker","message":"Connection is not alive"}]}`, false}},
		{FormatAMSDAL, StateDraining, "/api/probes/readiness/", want{503, json200, `{"status":"error","details":[{"status":"error","service":"ConnectionsHealthchecker","message":"Connection is not alive"}]}`, true}},

		{FormatStatus, StateReady, "/healthz", want{200, text, "ok", false}},
		{FormatStatus, StateNotReady, "/healthz", want{200, text, "ok", false}},
		{FormatStatus, StateReady, "/ready", want{200, text, "ok", false}},
		{FormatStatus, StateDegraded, "/ready", want{200, text, "ok", false}},
		{FormatStatus, StateNotReady, "/ready", want{503, text, "unavailable", false}},
		{FormatStatus, StateDraining, "/ready", want{503, text, "unavailable", true}},
	}
	for _, tc := range cases {
		in := byFormat(t, f, tc.format)
		mustSet(t, f, in.ID, tc.state)
		got := get(t, c, in.Address, tc.path)
		name := string(tc.format) + "/" + string(tc.state) + tc.path
		if got.code != tc.want.code {
			t.Errorf("%s: status %d, want %d", name, got.code, tc.want.code)
		}
		if ct := got.header.Get("Content-Type"); ct != tc.want.ctype {
			t.Errorf("%s: content-type %q, want %q", name, ct, tc.want.ctype)
		}
		if got.body != tc.want.body {
			t.Errorf("%s: body\n%s\nwant\n%s", name, got.body, tc.want.body)
		}
		if cl := got.header.Get("Content-Length"); cl != strconv.Itoa(len(tc.want.body)) {
			t.Errorf("%s: content-length %q, want %d", name, cl, len(tc.want.body))
		}
		if d := got.header.Get(hdr) == "true"; d != tc.want.drain {
			t.Errorf("%s: %s present=%v, want %v", name, hdr, d, tc.want.drain)
		}
	}

	// The second NativeLink instance (odd index) reports Initializing while not ready.
	nl := f.Instances()[6]
	mustSet(t, f, nl.ID, StateNotReady)
	got := get(t, c, nl.Address, "/status")
	if got.code != 503 || !strings.Contains(got.body, `"status":{"Initializing":{"message":"Store initializing"}}`) {
		t.Errorf("nativelink initializing: %d %s", got.code, got.body)
	}

	// Unknown paths and methods.
	hz := byFormat(t, f, FormatHealthz)
	if got := get(t, c, hz.Address, "/live"); got.code != 404 {
		t.Errorf("healthz /live: status %d, want 404", got.code)
	}
	resp, err := c.Post("http://"+hz.Address+"/readyz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close() // a response body: nothing to lose
	if resp.StatusCode != 405 {
		t.Errorf("POST /readyz: status %d, want 405", resp.StatusCode)
	}
}

// TestDynamoFrontendReadyBody checks the registered-worker body's shape and
// the seed's content length.
func TestDynamoFrontendReadyBody(t *testing.T) {
	t.Parallel()
	f := startFleet(t, Spec{N: 1, Formats: []Format{FormatDynamoFrontend}})
	in := f.Instances()[0]
	got := get(t, newClient(t), in.Address, "/health")
	if got.code != 200 || got.header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d content-type %q", got.code, got.header.Get("Content-Type"))
	}
	if len(got.body) != 609 || got.header.Get("Content-Length") != "609" {
		t.Errorf("length %d (header %s), want 609 as in the seed", len(got.body), got.header.Get("Content-Length"))
	}
	var body struct {
		Endpoints []string `json:"endpoints"`
		Instances []struct {
			Component  string `json:"component"`
			Endpoint   string `json:"endpoint"`
			InstanceID uint64 `json:"instance_id"`
			Namespace  string `json:"namespace"`
			Transport  struct {
				NatsTCP string `json:"nats_tcp"`
			} `json:"transport"`
		} `json:"instances"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(got.body), &body); err != nil {
		t.Fatalf("decode: %v\n%s", err, got.body)
	}
	if body.Status != "healthy" || len(body.Endpoints) != 1 || body.Endpoints[0] != "dyn://dynamo.backend.generate" || len(body.Instances) != 3 {
		t.Fatalf("unexpected body %s", got.body)
	}
	for i, ep := range []string{"clear_kv_blocks", "generate", "load_metrics"} {
		bi := body.Instances[i]
		wantNats := "dynamo_backend." + ep + "-" + strconv.FormatUint(bi.InstanceID, 16)
		if bi.Endpoint != ep || bi.Component != "backend" || bi.Namespace != "dynamo" || bi.Transport.NatsTCP != wantNats {
			t.Errorf("instance %d: %+v, want endpoint %s and nats %s", i, bi, ep, wantNats)
		}
	}
}

// TestDynamoWorker checks both paths, status codes, text/plain JSON and a
// real, growing uptime.
func TestDynamoWorker(t *testing.T) {
	t.Parallel()
	f := startFleet(t, Spec{N: 1, Formats: []Format{FormatDynamoWorker}})
	in := f.Instances()[0]
	c := newClient(t)
	type body struct {
		Endpoints map[string]string `json:"endpoints"`
		Status    string            `json:"status"`
		Uptime    struct {
			Nanos int64 `json:"nanos"`
			Secs  int64 `json:"secs"`
		} `json:"uptime"`
	}
	decode := func(r probeResult) (body, time.Duration) {
		t.Helper()
		var b body
		if err := json.Unmarshal([]byte(r.body), &b); err != nil {
			t.Fatalf("decode %q: %v", r.body, err)
		}
		if b.Uptime.Nanos < 0 || b.Uptime.Nanos >= 1e9 {
			t.Errorf("nanos %d out of range", b.Uptime.Nanos)
		}
		return b, time.Duration(b.Uptime.Secs)*time.Second + time.Duration(b.Uptime.Nanos)
	}
	var last time.Duration
	for _, path := range []string{"/live", "/health"} {
		got := get(t, c, in.Address, path)
		if got.code != 200 || got.header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("%s ready: %d %q", path, got.code, got.header.Get("Content-Type"))
		}
		b, up := decode(got)
		want := map[string]string{"clear_kv_blocks": "ready", "generate": "ready", "load_metrics": "ready"}
		if b.Status != "ready" || len(b.Endpoints) != 3 || b.Endpoints["generate"] != "ready" || b.Endpoints["load_metrics"] != want["load_metrics"] {
			t.Errorf("%s ready body %s", path, got.body)
		}
		if !strings.HasPrefix(got.body, `{"endpoints":{"clear_kv_blocks":"ready","generate":"ready","load_metrics":"ready"},"status":"ready","uptime":{"nanos":`) {
			t.Errorf("%s ready body not in seed order: %s", path, got.body)
		}
		if up <= last {
			t.Errorf("uptime %v did not grow past %v", up, last)
		}
		last = up
	}
	mustSet(t, f, in.ID, StateNotReady)
	for _, path := range []string{"/live", "/health"} {
		got := get(t, c, in.Address, path)
		if got.code != 503 || got.header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("%s notready: %d %q", path, got.code, got.header.Get("Content-Type"))
		}
		b, _ := decode(got)
		if b.Status != "notready" || len(b.Endpoints) != 1 || b.Endpoints["generate"] != "notready" {
			t.Errorf("%s notready body %s", path, got.body)
		}
	}
	mustSet(t, f, in.ID, StateDraining)
	got := get(t, c, in.Address, "/health")
	if got.code != 503 || got.header.Get("x-envoy-immediate-health-check-fail") != "true" {
		t.Errorf("draining: %d, header %q", got.code, got.header.Get("x-envoy-immediate-health-check-fail"))
	}
}
