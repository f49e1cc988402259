package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// fakeAggregator stands in for the aggregator where the API needs probe
// details and overrides: it keeps details in a map and applies overrides
// to the real store the way the aggregator does (status DRAINING plus an
// override event with who and why).
type fakeAggregator struct {
	store   *membership.Store
	now     func() time.Time
	mu      sync.Mutex
	details map[string]membership.InstanceDetail
	before  map[string]membership.Status // status under an override
}

func newFakeAggregator(store *membership.Store, now func() time.Time) *fakeAggregator {
	return &fakeAggregator{store: store, now: now, details: map[string]membership.InstanceDetail{}, before: map[string]membership.Status{}}
}

func (f *fakeAggregator) Instance(cluster, id string) (membership.InstanceDetail, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.details[cluster+"/"+id]
	if !ok {
		return membership.InstanceDetail{}, membership.ErrNotFound
	}
	return d, nil
}

func (f *fakeAggregator) SetOverride(cluster, id string, o *membership.Override) error {
	c, ok := f.store.Cluster(cluster)
	if !ok {
		return membership.ErrNotFound
	}
	if _, ok := c.Member(id); !ok {
		return membership.ErrNotFound
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	key := cluster + "/" + id
	f.store.UpdateMember(cluster, id, func(m *membership.Member) (*membership.Event, bool) {
		ev := &membership.Event{Time: f.now(), Kind: membership.EventOverride, Cluster: cluster, Instance: id, Address: m.Address, From: m.Status}
		if o != nil {
			if m.Override == nil {
				f.before[key] = m.Status
			}
			cp := *o
			m.Override = &cp
			m.Status = membership.StatusDraining
			ev.By, ev.Reason = o.By, "manual drain: "+o.Reason
		} else {
			if m.Override == nil {
				return nil, false
			}
			m.Override = nil
			m.Status = f.before[key]
			ev.Reason = "manual drain cleared"
		}
		m.Since = ev.Time
		ev.To = m.Status
		return ev, true
	})
	return nil
}

// quiet drops the server's logs in tests.
var quiet = slog.New(slog.DiscardHandler)

var t0 = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

func probe(path string) *upstreams.Probe {
	return &upstreams.Probe{
		Kind: upstreams.KindHTTP, Scheme: "http", Path: path, Port: 9090, Dialect: upstreams.DialectAuto,
		Timing: upstreams.Timing{Interval: 5 * time.Second, Timeout: time.Second, HealthyThreshold: 2, UnhealthyThreshold: 3},
	}
}

func mem(id string, st membership.Status, reason string) membership.Member {
	return membership.Member{
		Instance: upstreams.Instance{ID: id, Address: id + ".local:8000", Weight: 1, Zone: "z1", Source: "config"},
		Status:   st, Reason: reason, Since: t0,
	}
}

// fixture is a store with two clusters, a fake aggregator with probe
// history for web-1, and a Server in front of them.
type fixture struct {
	store *membership.Store
	agg   *fakeAggregator
	srv   *Server
	http  *httptest.Server
	now   time.Time
	nowMu sync.Mutex
}

func (fx *fixture) clock() time.Time {
	fx.nowMu.Lock()
	defer fx.nowMu.Unlock()
	return fx.now
}

func (fx *fixture) advance(d time.Duration) {
	fx.nowMu.Lock()
	fx.now = fx.now.Add(d)
	fx.nowMu.Unlock()
}

func seedStore(store *membership.Store) {
	store.PutCluster(&upstreams.Cluster{Name: "web", Liveness: probe("/live"), Readiness: probe("/health"), XDS: upstreams.XDSOptions{EDSServiceName: "web-eds"}},
		[]membership.Member{
			mem("web-1", membership.StatusHealthy, "readiness: 200 ready"),
			mem("web-2", membership.StatusHealthy, "readiness: 200 ready"),
			mem("web-3", membership.StatusUnhealthy, "readiness: 503 not_ready, checks.queue=unavailable (3 in a row)"),
		}, nil)
	store.PutCluster(&upstreams.Cluster{Name: "db", Readiness: probe("/status")},
		[]membership.Member{mem("db-1", membership.StatusDegraded, "readiness: Warning: disk")}, nil)
}

func webOneDetail() membership.InstanceDetail {
	var hist []membership.ProbeResult
	for i := 0; i < membership.HistorySize; i++ {
		r := membership.ProbeResult{
			Time: t0.Add(-time.Duration(i) * 5 * time.Second), HTTPStatus: 200, LatencyMS: float64(2 + i%5),
			Verdict: membership.OutcomePass, Reason: "200 ready",
			Components: []membership.Component{{Name: "store", Status: "ok"}},
		}
		if i == 3 {
			r.HTTPStatus, r.Verdict, r.Reason = 503, membership.OutcomeFail, "503 not_ready, checks.queue=unavailable"
			r.Components = []membership.Component{{Name: "queue", Status: "unavailable"}}
		}
		hist = append(hist, r)
	}
	return membership.InstanceDetail{
		Readiness: &membership.ProbeState{Probe: membership.Readiness, State: "passing", ConsecutiveSuccesses: 3, NextProbe: t0.Add(5 * time.Second), History: hist},
		Liveness: &membership.ProbeState{Probe: membership.Liveness, State: "passing", ConsecutiveSuccesses: 9, NextProbe: t0.Add(3 * time.Second),
			History: []membership.ProbeResult{{Time: t0, HTTPStatus: 200, LatencyMS: 1.5, Verdict: membership.OutcomePass, Reason: "200 live"}}},
	}
}

func newFixture(t *testing.T, mod func(*Options)) *fixture {
	t.Helper()
	fx := &fixture{store: membership.NewStore(1000), now: t0}
	seedStore(fx.store)
	fx.agg = newFakeAggregator(fx.store, fx.clock)
	fx.agg.details["web/web-1"] = webOneDetail()
	opts := Options{Store: fx.store, Aggregator: fx.agg, Token: "s3cret", Version: "1.2.3", Now: fx.clock, Logger: quiet}
	if mod != nil {
		mod(&opts)
	}
	fx.srv = New(opts)
	fx.http = httptest.NewServer(fx.srv.Handler())
	t.Cleanup(func() {
		fx.srv.Close()
		fx.http.Close()
	})
	return fx
}

// do sends a request and returns the status and the decoded JSON body.
func (fx *fixture) do(t *testing.T, method, path, token, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	resp, raw := fx.send(t, method, path, token, body, hdr...)
	var out map[string]any
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("%s %s: %d, body is not a JSON object: %v\n%s", method, path, resp.StatusCode, err, raw)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return resp.StatusCode, out
}

// send makes a request to the fixture's real HTTP server and returns the
// response with its body read.
func (fx *fixture) send(t *testing.T, method, path, token, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, fx.http.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck // a response body: nothing to lose
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(raw)
}

func (fx *fixture) get(t *testing.T, path string) (int, map[string]any) {
	t.Helper()
	return fx.do(t, http.MethodGet, path, "", "")
}

// setStatus makes one transition in the store, as the aggregator would.
func setStatus(store *membership.Store, cluster, id string, to membership.Status, reason string) {
	store.UpdateMember(cluster, id, func(m *membership.Member) (*membership.Event, bool) {
		ev := &membership.Event{Time: time.Now(), Kind: membership.EventTransition, Cluster: cluster, Instance: id, Address: m.Address, From: m.Status, To: to, Reason: reason}
		m.Status, m.Reason, m.Since = to, reason, ev.Time
		return ev, true
	})
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// hasKeys fails unless m has exactly the wanted keys.
func hasKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	if len(m) != len(want) {
		t.Errorf("%s: keys %v, want %v", what, keys(m), want)
		return
	}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Errorf("%s: missing key %q (have %v)", what, k, keys(m))
		}
	}
}
