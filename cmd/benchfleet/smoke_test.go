package main

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/consul/consultest"
)

// baselineChildEnv makes the test binary act as the baseline child.
const baselineChildEnv = "BENCHFLEET_BASELINE_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(baselineChildEnv) == "1" {
		os.Exit(baselineMain(os.Args[1:], os.Stderr))
	}
	os.Exit(m.Run())
}

// buildBinary builds a package of this module into dir.
func buildBinary(t *testing.T, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// childrenOf lists the live processes whose parent is pid.
func childrenOf(t *testing.T, pid int) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		var ppid, name string
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PPid:"); ok {
				ppid = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "Name:"); ok {
				name = strings.TrimSpace(v)
			}
		}
		if ppid == strconv.Itoa(pid) {
			out = append(out, e.Name()+" "+name)
		}
	}
	return out
}

// TestSmoke runs the whole harness on 100 instances in two fleet
// processes with a short interval and window, and checks what it reports.
func TestSmoke(t *testing.T) {
	bins := t.TempDir()
	opts := DefaultOptions()
	opts.VigilBin = buildBinary(t, bins, "./cmd/vigil")
	opts.FleetBin = buildBinary(t, bins, "./cmd/fleetsim")
	opts.Sizes = []int{100}
	opts.PerFleet = 60
	opts.Duration, opts.Settle = 3*time.Second, time.Second
	opts.Interval, opts.Timeout = 250*time.Millisecond, 200*time.Millisecond
	opts.BaselineWarmup, opts.BaselineDuration = 500*time.Millisecond, 1500*time.Millisecond
	opts.NotReadyShare, opts.DrainShare = 0.05, 0.03
	opts.SampleWorkers = 4
	opts.HostBase = 100 + os.Getpid()%100 // clear of a `make bench` running beside the tests
	opts.ReplicaSize = 0
	if bin, err := consultest.Binary(); err == nil {
		opts.ConsulBin, opts.ReplicaSize = bin, 100
	} else {
		t.Logf("no Consul agent binary: the 3-replica run is skipped: %v", err)
	}
	opts.WorkDir = t.TempDir()
	opts.BaselineCmd = []string{os.Args[0]}
	opts.BaselineEnv = []string{baselineChildEnv + "=1"}
	var logs bytes.Buffer
	opts.Log = slog.New(slog.NewTextHandler(&logs, nil))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	results, replicated, err := runAll(ctx, &opts)
	if err != nil {
		t.Fatalf("runAll: %v\nlogs:\n%s", err, logs.String())
	}
	if left := childrenOf(t, os.Getpid()); len(left) > 0 {
		t.Errorf("child processes still running after the run: %v", left)
	}
	if len(results) != 1 {
		t.Fatalf("got %d results, want 1", len(results))
	}
	r := results[0]
	if r.N != 100 || r.Fleets != 2 {
		t.Errorf("N=%d in %d fleets, want 100 in 2", r.N, r.Fleets)
	}
	// 100 instances, two probes each every 250 ms + 5% average jitter.
	if want := 200 / 0.2625; r.Scheduled < want-1 || r.Scheduled > want+1 {
		t.Errorf("scheduled %.1f probes/s, want %.1f", r.Scheduled, want)
	}
	if r.Achieved < r.Scheduled/2 || r.Achieved > r.Scheduled*1.2 {
		t.Errorf("achieved %.1f probes/s of %.1f scheduled", r.Achieved, r.Scheduled)
	}
	if r.Cores <= 0 || r.CPUPerProbeUS <= 0 || r.PeakRSSMiB <= 1 || r.Goroutines < 1 {
		t.Errorf("resource figures missing: cores %v, us/probe %v, rss %v MiB, goroutines %v",
			r.Cores, r.CPUPerProbeUS, r.PeakRSSMiB, r.Goroutines)
	}
	if r.OnTimeSamples == 0 || r.OnTime < 0 || r.OnTime > 1 {
		t.Errorf("on-time share %v from %d probes (%s)", r.OnTime, r.OnTimeSamples, r.OnTimeHow)
	}
	if r.Cycles < 1 {
		t.Fatalf("no flip cycle ran")
	}
	if r.Stalled != 0 {
		t.Errorf("%d probes stopped running", r.Stalled)
	}
	if r.ReadyAfter <= 0 || math.IsNaN(r.StartOnTime) || r.StartOnTime < 0 || r.StartOnTime > 1 {
		t.Errorf("startup figures missing: ready after %s, on time %v", r.ReadyAfter, r.StartOnTime)
	}
	// 5 instances go notready and 3 draining per cycle, then all 8 recover.
	for k, want := range [numKinds]int{5, 3, 8} {
		l := r.Detect[k]
		if l.Samples+l.Missing != want*r.Cycles || l.Samples == 0 {
			t.Errorf("%s: %d detected, %d missing over %d cycles, want %d per cycle", kindNames[k], l.Samples, l.Missing, r.Cycles, want)
		}
	}
	// Three failures in a row: the last one at least two intervals after the first.
	if l := r.Detect[kindNotReady]; l.P50 < 2*opts.Interval {
		t.Errorf("notready detected after %s at the median: faster than the thresholds allow", l.P50)
	}
	if l := r.Detect[kindDraining]; l.Max > opts.maxInterval()+5*time.Second {
		t.Errorf("draining detected after %s at worst", l.Max)
	}
	if r.Propagation.Samples == 0 || r.Propagation.P50 <= 0 {
		t.Errorf("no propagation measured over ADS: %+v", r.Propagation)
	}
	b := r.Baseline
	if b.Targets != 100 || b.Probes == 0 || b.CPUSeconds <= 0 || b.Errors*10 > b.Probes {
		t.Errorf("baseline: %+v", b)
	}

	if opts.ReplicaSize > 0 {
		x := replicated
		if x == nil || len(x.CPUPerProbeUS) != replicaCount || x.Flips == 0 || x.Propagation.Samples == 0 ||
			x.SteadyBytesSec <= 0 || x.BytesPerFlip <= 0 || x.Agreement.Samples == 0 {
			t.Errorf("3-replica run: %+v", x)
		}
	}
	rep := &report{When: time.Now(), Command: "test", Machine: describeMachine(), Opts: &opts, Sizes: results, Replicas: replicated,
		GoBench: parseGoBench(strings.NewReader(sampleGoBench)), GoBenchFrom: "sample", Notes: "\nkept\n"}
	md := rep.markdown()
	wants := []string{"| N = 100 |", "vigil CPU per probe", "propagation p50 / p99", "StateMachineStep", "\nkept\n"}
	if opts.ReplicaSize > 0 {
		wants = append(wants, "## Three replicas", "merged-view propagation")
	}
	for _, want := range wants {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if t.Failed() {
		t.Logf("report:\n%s\nlogs:\n%s", md, logs.String())
	}
}

const sampleGoBench = `goos: linux
pkg: github.com/vigilhq/vigil/aggregator
BenchmarkStateMachineStep-2   	100000000	        10.5 ns/op	       0 B/op	       0 allocs/op
`
