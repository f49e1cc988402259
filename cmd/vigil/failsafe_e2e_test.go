package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil/fleet"
)

// fleetProcess is a fleetsim process serving n "status" instances on
// host:port .. host:port+n-1; it can be killed and started again on the
// same addresses.
type fleetProcess struct {
	t          *testing.T
	host       string
	port, n    int
	cmd        *exec.Cmd
	exited     chan struct{}
	stderrPath string
}

func (f *fleetProcess) start() {
	f.t.Helper()
	out, err := os.OpenFile(f.stderrPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		f.t.Fatal(err)
	}
	f.cmd = exec.Command(fleetsimBinary(f.t), "-n", strconv.Itoa(f.n), "-formats", "status", "-host", f.host,
		"-port-base", strconv.Itoa(f.port), "-per-host", strconv.Itoa(f.n), "-control", "", "-log-level", "warn")
	f.cmd.Stdout, f.cmd.Stderr = out, out
	if err := f.cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	_ = out.Close() // the child has its own descriptor
	exited := make(chan struct{})
	f.exited = exited
	go func() {
		_ = f.cmd.Wait() // killed at the end: its exit status says nothing
		close(exited)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < f.n; {
		c, err := net.DialTimeout("tcp", f.addr(i), time.Second)
		if err == nil {
			_ = c.Close() // the connect was all that was wanted
			i++
			continue
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(f.stderrPath)
			f.t.Fatalf("fleetsim instance %s not listening: %v\n%s", f.addr(i), err, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *fleetProcess) kill() {
	_ = f.cmd.Process.Signal(syscall.SIGKILL)
	<-f.exited
}

func (f *fleetProcess) addr(i int) string { return net.JoinHostPort(f.host, strconv.Itoa(f.port+i)) }

// apiInstance is an instance as the admin API shows it.
type apiInstance struct {
	ID         string  `json:"id"`
	Status     string  `json:"status"`
	Reason     string  `json:"reason"`
	Held       bool    `json:"held"`
	HeldCause  *string `json:"held_cause"`
	HeldReason *string `json:"held_reason"`
}

func getJSONURL(url string, v any) (int, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close() //nolint:errcheck // a response body: nothing to lose
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
}

func apiInstances(admin, cluster string) ([]apiInstance, error) {
	var v struct {
		Instances []apiInstance `json:"instances"`
	}
	_, err := getJSONURL(admin+"/api/v1/clusters/"+cluster+"?probes=false", &v)
	return v.Instances, err
}

type readyzBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// TestFailSafeWholeFleetKilledAtOnce runs the real vigil binary against a
// fleetsim process serving three clusters and an in-process fleet serving
// a fourth. The fleetsim process is killed (every instance refuses at
// once) while the fourth cluster starts answering 503. Watched moment by
// moment through a real ADS stream and the admin API: no instance of the
// killed clusters ever leaves HEALTHY, each is marked held, /readyz is 503
// naming the fail-safe, and the 503 cluster is published UNHEALTHY, not
// held. When fleetsim comes back on the same addresses the hold ends, and
// still nothing flapped.
func TestFailSafeWholeFleetKilledAtOnce(t *testing.T) {
	dir := t.TempDir()
	killed := []string{"fs-a", "fs-b", "fs-c"}
	const perCluster = 10
	fp := &fleetProcess{t: t, host: fmt.Sprintf("127.%d.%d.1", 20+rand.IntN(200), rand.IntN(250)),
		port: 20000 + rand.IntN(20000), n: perCluster * len(killed), stderrPath: filepath.Join(dir, "fleetsim.log")}
	fp.start()
	t.Cleanup(fp.kill)
	answering, err := fleet.Start(context.Background(), fleet.Spec{N: 5, Formats: []fleet.Format{fleet.FormatStatus}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = answering.Close() }) // test cleanup

	admin, xdsAddr := freeAddr(t), freeAddr(t)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "admin: {listen: %q}\nxds: {listen: %q}\nstate_dir: %q\ndrain_period: 0s\n", admin, xdsAddr, filepath.Join(dir, "state"))
	cfg.WriteString("fail_safe: {global_failure_percent: 60, min_clusters: 2}\n")
	cfg.WriteString("defaults: {interval: 1s, timeout: 500ms, jitter_percent: 10, healthy_threshold: 2, unhealthy_threshold: 3}\nclusters:\n")
	for c, name := range killed {
		fmt.Fprintf(&cfg, "  - name: %s\n    readiness: {path: /ready, dialect: status}\n    instances:\n", name)
		for i := range perCluster {
			fmt.Fprintf(&cfg, "      - {id: %s-%d, address: %q}\n", name, i, fp.addr(c*perCluster+i))
		}
	}
	cfg.WriteString("  - name: fs-d\n    readiness: {path: /ready, dialect: status}\n    instances:\n")
	for _, in := range answering.Instances() {
		fmt.Fprintf(&cfg, "      - {id: %s, address: %q}\n", in.ID, in.Address)
	}
	confPath := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(confPath, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, "serve", "-config", confPath, "-log-format", "text")
	base := "http://" + admin
	waitHTTP(t, base+"/readyz", 200, 30*time.Second)
	all := append(append([]string(nil), killed...), "fs-d")
	waitAll := func(what string, within time.Duration, ok func(cluster string, in apiInstance) bool) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			bad := ""
			for _, c := range all {
				insts, err := apiInstances(base, c)
				if err != nil || len(insts) == 0 {
					bad = fmt.Sprintf("%s: %d instances, %v", c, len(insts), err)
					break
				}
				for _, in := range insts {
					if !ok(c, in) {
						bad = fmt.Sprintf("%s/%s is %s (%s), held %v", c, in.ID, in.Status, in.Reason, in.Held)
					}
				}
			}
			if bad == "" {
				return time.Since(start)
			}
			if time.Since(start) > within {
				t.Fatalf("%s: not within %s: %s", what, within, bad)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitAll("every instance HEALTHY", 20*time.Second, func(_ string, in apiInstance) bool { return in.Status == "HEALTHY" && !in.Held })
	seen := &sightings{}
	watchEDS(t, xdsAddr, all, seen)

	// Watch the API and /readyz moment by moment from now on.
	type violation struct {
		at   time.Time
		what string
	}
	var (
		watchMu    sync.Mutex
		violations []violation
		readyz503  int
	)
	stopWatch := make(chan struct{})
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(100 * time.Millisecond):
			}
			for _, c := range killed {
				insts, err := apiInstances(base, c)
				if err != nil {
					continue
				}
				for _, in := range insts {
					if in.Status != "HEALTHY" {
						watchMu.Lock()
						violations = append(violations, violation{time.Now(), fmt.Sprintf("API: %s/%s %s (%s)", c, in.ID, in.Status, in.Reason)})
						watchMu.Unlock()
					}
				}
			}
			var rb readyzBody
			if code, err := getJSONURL(base+"/readyz", &rb); err == nil && code == 503 {
				watchMu.Lock()
				readyz503++
				watchMu.Unlock()
			}
		}
	}()

	killedAt := time.Now()
	fp.kill()
	for _, in := range answering.Instances() {
		if _, err := answering.Set(in.ID, fleet.StateNotReady); err != nil {
			t.Fatal(err)
		}
	}

	// /readyz says why; the 503 cluster leaves; the killed ones are held.
	var rb readyzBody
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, err := getJSONURL(base+"/readyz", &rb)
		if err == nil && code == 503 && strings.HasPrefix(rb.Checks["fail_safe"], "holding: ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never named the fail-safe: %d %+v", code, rb)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tripped := time.Since(killedAt)
	t.Logf("/readyz 503 after %s: %s", tripped.Round(time.Millisecond), rb.Checks["fail_safe"])
	waitAll("killed clusters held, the 503 cluster out", 20*time.Second, func(c string, in apiInstance) bool {
		if c == "fs-d" {
			return in.Status == "UNHEALTHY" && !in.Held
		}
		return in.Status == "HEALTHY" && in.Held && in.HeldCause != nil && *in.HeldCause == "fail_safe" &&
			in.HeldReason != nil && strings.Contains(*in.HeldReason, "connection refused")
	})
	t.Logf("every killed instance held, the 503 cluster UNHEALTHY, %s after the kill", time.Since(killedAt).Round(time.Millisecond))
	// EDS says the same, to a state-of-the-world and a delta client.
	deadline = time.Now().Add(10 * time.Second)
	for {
		bad := ""
		for _, source := range []string{"sotw", "delta"} {
			for _, c := range all {
				v, ok := seen.latest(source, c)
				switch {
				case !ok || len(v.health) == 0:
					bad = source + " " + c + ": no assignment"
				case c == "fs-d":
					for addr, h := range v.health {
						if h != "UNHEALTHY" || v.held[addr] != "" {
							bad = fmt.Sprintf("%s %s/%s %s held %q", source, c, addr, h, v.held[addr])
						}
					}
				default:
					for addr, h := range v.health {
						if h != "HEALTHY" || !strings.Contains(v.held[addr], "connection refused") {
							bad = fmt.Sprintf("%s %s/%s %s held %q", source, c, addr, h, v.held[addr])
						}
					}
				}
			}
		}
		if bad == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("EDS: %s", bad)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // several more rounds of refused probes, still held

	// The fleet comes back on the same addresses: the hold ends and the
	// killed clusters were never out.
	backAt := time.Now()
	fp.start()
	deadline = time.Now().Add(20 * time.Second)
	for {
		code, err := getJSONURL(base+"/readyz", &rb)
		if err == nil && code == 200 && rb.Checks["fail_safe"] == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after the fleet came back: %d %+v", code, rb)
		}
		time.Sleep(50 * time.Millisecond)
	}
	released := time.Since(backAt)
	waitAll("nothing held after the release", 15*time.Second, func(c string, in apiInstance) bool {
		return !in.Held && (c == "fs-d" || in.Status == "HEALTHY")
	})
	time.Sleep(2 * time.Second) // the ordinary thresholds decide: nothing leaves now either
	close(stopWatch)
	<-watchDone
	t.Logf("released %s after the fleet came back", released.Round(time.Millisecond))

	watchMu.Lock()
	defer watchMu.Unlock()
	for _, v := range violations {
		t.Errorf("%s after the kill: %s", v.at.Sub(killedAt).Round(time.Millisecond), v.what)
	}
	if readyz503 == 0 {
		t.Error("the watcher never saw /readyz 503")
	}
	pushes := seen.since(killedAt)
	for _, v := range pushes {
		if v.cluster == "fs-d" {
			continue
		}
		for addr, h := range v.health {
			if h != "HEALTHY" {
				t.Errorf("EDS (%s) at %s: %s/%s %s", v.source, v.at.Sub(killedAt).Round(time.Millisecond), v.cluster, addr, h)
			}
		}
	}
	t.Logf("%d EDS assignments watched since the kill (state of the world and delta)", len(pushes))

	// One fail_safe event and one log line each way.
	var evs struct {
		Events []struct {
			Kind   string `json:"kind"`
			Reason string `json:"reason"`
		} `json:"events"`
	}
	if _, err := getJSONURL(base+"/api/v1/events?limit=1000", &evs); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range evs.Events {
		if ev.Kind == "fail_safe" {
			kinds = append(kinds, ev.Reason)
		}
	}
	if len(kinds) != 2 || !strings.HasPrefix(kinds[1], "holding: ") || !strings.HasPrefix(kinds[0], "released: ") {
		t.Errorf("fail_safe events (newest first) = %q, want one release after one hold", kinds)
	}
	out := p.stderr.String()
	if n := strings.Count(out, "fail-safe holding"); n != 1 {
		t.Errorf("%d 'fail-safe holding' log lines, want 1", n)
	}
	if n := strings.Count(out, "fail-safe released"); n != 1 {
		t.Errorf("%d 'fail-safe released' log lines, want 1", n)
	}
}
