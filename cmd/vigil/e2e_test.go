package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/fleet"
)

// running is one vigil app under test, with its fleet.
type running struct {
	t       *testing.T
	fleet   *fleet.Fleet
	app     *app
	admin   string
	signals chan os.Signal
	done    chan error
	stop    func()
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func startVigil(t *testing.T, f *fleet.Fleet, mutate func(*config.Config)) *running {
	t.Helper()
	return startVigilIn(t, f, mutate, t.TempDir())
}

// startVigilIn runs vigil with its state (manual drains) in stateDir.
func startVigilIn(t *testing.T, f *fleet.Fleet, mutate func(*config.Config), stateDir string) *running {
	t.Helper()
	build := func() (*config.Config, error) {
		cfg, err := fleetConfig(f, "127.0.0.1:0", "127.0.0.1:0", stateDir, 200*time.Millisecond)
		if err == nil && mutate != nil {
			mutate(cfg)
			err = cfg.Finish()
		}
		return cfg, err
	}
	cfg, err := build()
	if err != nil {
		t.Fatal(err)
	}
	cfg.DrainPeriod = 300 * time.Millisecond
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := newApp(cfg, build, log, startOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.adminLn, a.xdsLn = listen(t), listen(t)
	r := &running{t: t, fleet: f, app: a, admin: "http://" + a.adminLn.Addr().String(),
		signals: make(chan os.Signal, 2), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { r.done <- a.run(ctx, r.signals) }()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-r.done:
				if err != nil {
					t.Errorf("vigil stopped with: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("vigil did not stop")
			}
		})
	}
	t.Cleanup(r.stop)
	return r
}

func (r *running) getJSON(path string, v any) int {
	r.t.Helper()
	resp, err := http.Get(r.admin + path)
	if err != nil {
		r.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close() //nolint:errcheck // a response body: nothing to lose
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			r.t.Fatalf("GET %s: decode: %v", path, err)
		}
	}
	return resp.StatusCode
}

type clusterView struct {
	Instances []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Reason string `json:"reason"`
	} `json:"instances"`
}

// statusOf reads one instance's status through the admin API.
func (r *running) statusOf(cluster, id string) (string, string) {
	var v clusterView
	r.getJSON("/api/v1/clusters/"+cluster, &v)
	for _, in := range v.Instances {
		if in.ID == id {
			return in.Status, in.Reason
		}
	}
	return "", ""
}

// waitStatus polls the admin API until the instance shows want.
func (r *running) waitStatus(cluster, id, want string) {
	r.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, reason := r.statusOf(cluster, id)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s/%s: API shows %s (%s), want %s", cluster, id, got, reason, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func startFleet(t *testing.T) *fleet.Fleet {
	t.Helper()
	f, err := fleet.Start(context.Background(), fleet.Spec{N: 14, Formats: fleet.AllFormats(), SlowDelay: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() }) // test cleanup
	return f
}

// clusterOf is the demo cluster that probes a format.
func clusterOf(f fleet.Format) string {
	for _, dc := range demoClusters {
		if dc.format == f {
			return dc.name
		}
	}
	return ""
}

// TestFleetToAPI: every simulated format is probed, and the admin API
// follows instances as they drain, fail, die, slow down and recover.
func TestFleetToAPI(t *testing.T) {
	f := startFleet(t)
	r := startVigil(t, f, nil)
	for _, in := range f.Instances() {
		r.waitStatus(clusterOf(in.Format), in.ID, "HEALTHY")
	}
	cases := []struct {
		state fleet.State
		want  map[fleet.Format]string
	}{
		{fleet.StateDraining, map[fleet.Format]string{fleet.FormatHealthz: "DRAINING", fleet.FormatDynamoWorker: "DRAINING",
			fleet.FormatNativeLink: "DRAINING", fleet.FormatAMSDAL: "DRAINING", fleet.FormatStatus: "DRAINING",
			fleet.FormatDynamoFrontend: "DRAINING", fleet.FormatGRPC: "UNHEALTHY"}},
		{fleet.StateReady, nil},
		{fleet.StateNotReady, map[fleet.Format]string{fleet.FormatHealthz: "UNHEALTHY", fleet.FormatDynamoFrontend: "UNHEALTHY",
			fleet.FormatDynamoWorker: "UNHEALTHY", fleet.FormatNativeLink: "UNHEALTHY", fleet.FormatAMSDAL: "UNHEALTHY",
			fleet.FormatStatus: "UNHEALTHY", fleet.FormatGRPC: "UNHEALTHY"}},
		{fleet.StateReady, nil},
		{fleet.StateDegraded, map[fleet.Format]string{fleet.FormatNativeLink: "DEGRADED", fleet.FormatHealthz: "HEALTHY"}},
		{fleet.StateDead, map[fleet.Format]string{fleet.FormatHealthz: "UNHEALTHY", fleet.FormatAMSDAL: "UNHEALTHY",
			fleet.FormatGRPC: "UNHEALTHY"}},
		{fleet.StateReady, nil},
		{fleet.StateSlow, map[fleet.Format]string{fleet.FormatHealthz: "UNHEALTHY", fleet.FormatDynamoWorker: "UNHEALTHY"}},
		{fleet.StateReady, nil},
	}
	first := map[fleet.Format]string{}
	for _, in := range f.Instances() {
		if _, ok := first[in.Format]; !ok {
			first[in.Format] = in.ID
		}
	}
	for _, c := range cases {
		for format, id := range first {
			want, ok := c.want[format]
			if c.want == nil {
				want, ok = "HEALTHY", true
			}
			if !ok {
				continue
			}
			if _, err := f.Set(id, c.state); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s %s -> %s, want %s", format, id, c.state, want)
			r.waitStatus(clusterOf(format), id, want)
		}
	}
	// The CEL cluster reads the same engines through expressions.
	var engine string
	for _, in := range f.Instances() {
		if in.Format == fleet.FormatHealthz {
			engine = in.ID
			break
		}
	}
	setState(t, f, engine, fleet.StateDraining)
	r.waitStatus("engines-cel", engine, "DRAINING")
	setState(t, f, engine, fleet.StateReady)
	r.waitStatus("engines-cel", engine, "HEALTHY")
	// Every transition was recorded as an event.
	var evs struct {
		Events []struct {
			Instance string `json:"instance"`
			To       string `json:"to"`
		} `json:"events"`
	}
	r.getJSON("/api/v1/events?cluster=engines-cel&limit=5", &evs)
	if len(evs.Events) == 0 || evs.Events[0].Instance != engine || evs.Events[0].To != "HEALTHY" {
		t.Errorf("newest engines-cel event: %+v", evs.Events)
	}
}

// TestReadyzAndGracefulStop: /readyz is 503 until the first round, 200
// after, and 503 draining at once on SIGTERM while xDS still serves.
func TestReadyzAndGracefulStop(t *testing.T) {
	f := startFleet(t)
	r := startVigil(t, f, nil)
	deadline := time.Now().Add(10 * time.Second)
	var body struct {
		Status   string            `json:"status"`
		Draining bool              `json:"draining"`
		Checks   map[string]string `json:"checks"`
	}
	for r.getJSON("/readyz", &body) != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("never ready: %+v", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if body.Status != "ready" || body.Checks["first_probe_round"] != "ok" || body.Checks["xds"] != "ok" {
		t.Errorf("ready body: %+v", body)
	}
	// The scheduler's counters are exported next to the probe metrics.
	resp, err := http.Get(r.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close() // a response body: nothing to lose
	for _, name := range []string{"vigil_probes_started_total ", "vigil_probes_late_total ", "vigil_probes_total{"} {
		if !strings.Contains(string(metricsText), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	r.signals <- syscall.SIGTERM
	deadline = time.Now().Add(5 * time.Second)
	for {
		code := r.getJSON("/readyz", &body)
		if code == 503 && body.Draining {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not draining after SIGTERM: %d %+v", code, body)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !r.app.xds.Serving() {
		t.Error("xDS stopped before drain_period ended")
	}
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatal(err)
		}
		r.done <- nil
	case <-time.After(10 * time.Second):
		t.Fatal("vigil did not stop after drain_period")
	}
}

// TestReloadAddsRemovesAndRejects: SIGHUP applies a new config; an invalid
// one is rejected and the running config stays.
func TestReloadAddsRemovesAndRejects(t *testing.T) {
	f := startFleet(t)
	drop := false
	broken := false
	r := startVigil(t, f, func(cfg *config.Config) {
		if drop {
			cfg.Clusters = cfg.Clusters[1:]
		}
		if broken {
			cfg.Clusters[0].Liveness.Timeout = -1
		}
	})
	first := demoClusters[0].name
	var list struct {
		Clusters []struct{ Name string } `json:"clusters"`
	}
	r.getJSON("/api/v1/clusters", &list)
	if len(list.Clusters) != len(demoClusters) {
		t.Fatalf("%d clusters", len(list.Clusters))
	}
	drop = true
	r.signals <- syscall.SIGHUP
	deadline := time.Now().Add(5 * time.Second)
	for r.getJSON("/api/v1/clusters/"+first, nil) != 404 {
		if time.Now().After(deadline) {
			t.Fatalf("%s still served after reload", first)
		}
		time.Sleep(20 * time.Millisecond)
	}
	drop, broken = false, true
	if err := r.app.reload(); err == nil {
		t.Fatal("invalid config accepted")
	}
	r.getJSON("/api/v1/clusters", &list)
	if len(list.Clusters) != len(demoClusters)-1 {
		t.Errorf("after rejected reload: %d clusters", len(list.Clusters))
	}
	broken = false
	if err := r.app.reload(); err != nil {
		t.Fatal(err)
	}
	if code := r.getJSON("/api/v1/clusters/"+first, nil); code != 200 {
		t.Errorf("re-added cluster: %d", code)
	}
}

// TestManualDrainSurvivesRestart: a drain set through the API holds the
// instance DRAINING, is written to state_dir, and holds again after vigil
// restarts, until undrained.
func TestManualDrainSurvivesRestart(t *testing.T) {
	t.Setenv("VIGIL_ADMIN_TOKEN", "s3cret")
	f := startFleet(t)
	state := t.TempDir()
	r := startVigilIn(t, f, nil, state)
	var engine string
	for _, in := range f.Instances() {
		if in.Format == fleet.FormatHealthz {
			engine = in.ID
			break
		}
	}
	r.waitStatus("engines", engine, "HEALTHY")
	post := func(r *running, path, body, token string) int {
		req, _ := http.NewRequest("POST", r.admin+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("X-Vigil-User", "alice")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close() // a response body: nothing to lose
		return resp.StatusCode
	}
	path := "/api/v1/clusters/engines/instances/" + engine
	if code := post(r, path+"/drain", `{"reason":"kernel upgrade"}`, "wrong"); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
	if code := post(r, path+"/drain", `{"reason":"kernel upgrade"}`, "s3cret"); code != 200 {
		t.Fatalf("drain: %d", code)
	}
	r.waitStatus("engines", engine, "DRAINING")
	r.stop()

	r2 := startVigilIn(t, f, nil, state)
	r2.waitStatus("engines", engine, "DRAINING")
	if _, reason := r2.statusOf("engines", engine); reason != "manual drain: kernel upgrade" {
		t.Errorf("reason after restart: %q", reason)
	}
	if code := post(r2, path+"/undrain", "", "s3cret"); code != 200 {
		t.Fatalf("undrain: %d", code)
	}
	r2.waitStatus("engines", engine, "HEALTHY")
}

func splitHostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

// setState flips a fleet instance's state, failing the test if it cannot.
func setState(t *testing.T, f *fleet.Fleet, id string, s fleet.State) {
	t.Helper()
	if _, err := f.Set(id, s); err != nil {
		t.Fatal(err)
	}
}
