package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resource "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/vigilhq/vigil/fleet"
	"github.com/vigilhq/vigil/metrics"
	"github.com/vigilhq/vigil/xds/xdstest"
)

// limitedVigil is the vigil binary serving a fleet under a low open-file
// limit, with one kept-alive admin connection opened before anything else
// (so the test can still ask when vigil has no descriptor to accept with).
type limitedVigil struct {
	t      *testing.T
	pid    int
	admin  string // host:port
	xds    string
	client *http.Client // one connection, kept alive
	fleet  *fleet.Fleet
	n      int
	limit  int
	proc   *process
}

func startLimitedVigil(t *testing.T, n, nofile int, slow time.Duration) *limitedVigil {
	t.Helper()
	f, err := fleet.Start(context.Background(), fleet.Spec{N: n, Formats: []fleet.Format{fleet.FormatHealthz}, SlowDelay: slow})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() }) // test cleanup
	lv := &limitedVigil{t: t, admin: freeAddr(t), xds: freeAddr(t), fleet: f, n: n, limit: nofile}
	live, ready := fleet.FormatHealthz.Paths()
	var b strings.Builder
	// unhealthy_threshold 1: a single probe counted as failed would show.
	fmt.Fprintf(&b, "admin: {listen: %q}\nxds: {listen: %q}\nstate_dir: %q\ndrain_period: 0s\n"+
		"defaults: {interval: 1s, timeout: 800ms, initial_status: unknown, healthy_threshold: 1, unhealthy_threshold: 1}\n"+
		"clusters:\n  - name: web\n    dialect: healthz\n    liveness: {path: %q}\n    readiness: {path: %q}\n    instances:\n",
		lv.admin, lv.xds, t.TempDir(), live, ready)
	for _, in := range f.Instances() {
		fmt.Fprintf(&b, "      - {id: %s, address: %q}\n", in.ID, in.Address)
	}
	path := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := limitedCommand(t, nofile, "serve", "-config", path)
	lv.proc = startCommand(t, cmd)
	lv.pid = cmd.Process.Pid // sh exec'd vigil: the same process
	lv.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
	t.Cleanup(lv.client.CloseIdleConnections)
	waitHTTP(t, "http://"+lv.admin+"/healthz", 200, 30*time.Second)
	return lv
}

// get asks the admin API over the kept connection; it fails the test on
// any error, and checks no instance is UNHEALTHY on every summary read.
func (lv *limitedVigil) get(path string) (int, string) {
	lv.t.Helper()
	resp, err := lv.client.Get("http://" + lv.admin + path)
	if err != nil {
		lv.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close() //nolint:errcheck // a response body: nothing to lose
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		lv.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

// counts reads the summary's counts by status.
func (lv *limitedVigil) counts() map[string]int {
	lv.t.Helper()
	_, body := lv.get("/api/v1/summary")
	var s struct {
		Counts map[string]int `json:"counts"`
	}
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		lv.t.Fatalf("summary: %v: %s", err, body)
	}
	if s.Counts["UNHEALTHY"] > 0 {
		lv.t.Fatalf("%d instances UNHEALTHY: %v", s.Counts["UNHEALTHY"], s.Counts)
	}
	return s.Counts
}

// metric reads one series of /metrics (0 when absent).
func (lv *limitedVigil) metric(series string) float64 {
	lv.t.Helper()
	_, body := lv.get("/metrics")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				lv.t.Fatalf("metric %s: %v", line, err)
			}
			return f
		}
	}
	return 0
}

// until polls cond (which may read the admin API) until it holds.
func (lv *limitedVigil) until(what string, within time.Duration, cond func() bool) {
	lv.t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			lv.t.Fatalf("waited %s for %s", within, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// openFiles counts vigil's descriptors.
func (lv *limitedVigil) openFiles() int {
	lv.t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", lv.pid))
	if err != nil {
		lv.t.Fatalf("vigil's descriptors: %v", err)
	}
	return len(ents)
}

// edsEndpoints asks vigil's xDS server, on a new connection, for the web
// cluster's assignment and returns how many endpoints it holds.
func (lv *limitedVigil) edsEndpoints() int {
	lv.t.Helper()
	conn, err := grpc.NewClient(lv.xds, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		lv.t.Fatal(err)
	}
	defer conn.Close() //nolint:errcheck // test cleanup
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		lv.t.Fatalf("ADS stream: %v", err)
	}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "fdlimit-test"}, TypeUrl: resource.EndpointType,
		ResourceNames: []string{"web"}}); err != nil {
		lv.t.Fatalf("ADS request: %v", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		lv.t.Fatalf("ADS response: %v", err)
	}
	n := 0
	for _, r := range resp.GetResources() {
		a, err := xdstest.Decode(r)
		if err != nil {
			lv.t.Fatalf("assignment: %v", err)
		}
		n += len(a.Health)
	}
	return n
}

func (lv *limitedVigil) setAll(s fleet.State) {
	lv.t.Helper()
	for _, in := range lv.fleet.Instances() {
		if _, err := lv.fleet.Set(in.ID, s); err != nil {
			lv.t.Fatal(err)
		}
	}
}

func (lv *limitedVigil) readyz() (int, string) { return lv.get("/readyz") }

// The test: vigil run under a low open-file limit against more
// instances than fit. No instance turns UNHEALTHY; the admin API and xDS
// answer while probes hold their whole share; probes that find no slot
// (fd_budget), or no descriptor at all (fd_limit: the test eats vigil's
// reserve), are skipped and counted; /readyz says why, and is ready again
// once they stop.
func TestLowOpenFileLimitSkipsNeverFails(t *testing.T) {
	if testing.Short() {
		t.Skip("runs vigil against 400 instances for about half a minute")
	}
	// A limit of 200: 100 reserved, 50 kept, 50 short-lived; 400
	// instances, so 350 are probed on short-lived connections.
	lv := startLimitedVigil(t, 400, 200, 300*time.Millisecond)
	lv.until("every instance HEALTHY", 60*time.Second, func() bool { return lv.counts()["HEALTHY"] == lv.n })
	if kept := lv.metric(`vigil_probe_connections{kind="kept"}`); kept != 50 {
		t.Errorf("kept connections %v, want 50", kept)
	}
	if lv.metric("vigil_probe_short_lived_connections_total") == 0 {
		t.Error("no short-lived connection opened")
	}
	if n := lv.edsEndpoints(); n != lv.n {
		t.Errorf("xDS served %d endpoints on a new connection, want %d", n, lv.n)
	}

	lv.until("/readyz ready", 20*time.Second, func() bool {
		code, _ := lv.readyz()
		return code == 200
	})

	// Slow answers hold short-lived slots for 300 ms: more are wanted at
	// once than the budget has, and the rest are skipped.
	budgetSkips := lv.metric(`vigil_probes_skipped_total{cause="fd_budget"}`)
	lv.setAll(fleet.StateSlow)
	lv.until("probes skipped for want of a short-lived slot", 30*time.Second, func() bool {
		lv.counts()
		return lv.metric(`vigil_probes_skipped_total{cause="fd_budget"}`) > budgetSkips
	})
	lv.until("/readyz naming fd_budget", 10*time.Second, func() bool {
		code, body := lv.readyz()
		return code == 503 && strings.Contains(body, `"resources":"probes skipped`) && strings.Contains(body, "fd_budget: ")
	})
	if n := lv.edsEndpoints(); n != lv.n {
		t.Errorf("xDS served %d endpoints while probes were skipped, want %d", n, lv.n)
	}
	lv.setAll(fleet.StateReady)
	lv.until("/readyz ready once the skips stopped", 20*time.Second, func() bool {
		code, _ := lv.readyz()
		lv.counts()
		return code == 200
	})

	// Eat vigil's reserve: connections to its xDS port that never speak
	// (gRPC waits two minutes for them) until it has no descriptor left.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			_ = c.Close() // test cleanup
		}
	}()
	lv.until("vigil out of descriptors", 30*time.Second, func() bool {
		for range 10 {
			c, err := net.Dial("tcp", lv.xds)
			if err != nil {
				t.Fatalf("connect to xDS: %v", err)
			}
			held = append(held, c)
		}
		lv.counts() // keeps the admin connection from idling out
		return lv.openFiles() >= lv.limit-1
	})
	lv.until("probes skipped for want of a descriptor", 30*time.Second, func() bool {
		lv.counts()
		return lv.metric(`vigil_probes_skipped_total{cause="fd_limit"}`) > 0
	})
	code, body := lv.readyz()
	if code != 503 || !strings.Contains(body, "fd_limit: ") || !strings.Contains(body, "too many open files") {
		t.Errorf("/readyz while out of descriptors: %d %s", code, body)
	}
	for _, c := range held {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	held = nil
	lv.until("/readyz ready once vigil had descriptors again", 30*time.Second, func() bool {
		code, _ := lv.readyz()
		lv.counts()
		return code == 200
	})
	if n := lv.edsEndpoints(); n != lv.n {
		t.Errorf("xDS served %d endpoints after the exhaustion, want %d", n, lv.n)
	}
	_, events := lv.get("/api/v1/events?limit=1000")
	if strings.Contains(events, `"to":"UNHEALTHY"`) {
		t.Errorf("an instance turned UNHEALTHY:\n%s", events)
	}
	for _, c := range metrics.SkipCauses {
		t.Logf("skipped %s: %v", c, lv.metric(`vigil_probes_skipped_total{cause="`+c+`"}`))
	}
}
