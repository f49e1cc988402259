package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vigilhq/vigil/fleet"
)

// baselineTarget is one instance for the bare loop: its two probe URLs.
type baselineTarget struct {
	Live  string `json:"live"`
	Ready string `json:"ready"`
}

// baselineResult is what the bare loop measured over its window.
type baselineResult struct {
	Targets    int     `json:"targets"`
	Window     float64 `json:"window_seconds"`
	Probes     uint64  `json:"probes"`
	Late       uint64  `json:"late"`   // started more than 100 ms after due
	Errors     uint64  `json:"errors"` // transport errors and non-2xx answers
	CPUSeconds float64 `json:"cpu_seconds"`
	PeakRSSKB  int64   `json:"peak_rss_kb"`
	Goroutines int     `json:"goroutines"`
}

func (r baselineResult) perSecond() float64 { return float64(r.Probes) / r.Window }

func (r baselineResult) cpuPerProbeUS() float64 {
	if r.Probes == 0 {
		return 0
	}
	return r.CPUSeconds / float64(r.Probes) * 1e6
}

func (r baselineResult) onTime() float64 {
	if r.Probes == 0 {
		return 0
	}
	return 1 - float64(r.Late)/float64(r.Probes)
}

// baselineArgs are the flags of the -baseline-mode child.
type baselineArgs struct {
	targets, result   string
	warmup, window    time.Duration
	interval, timeout time.Duration
	jitter            int
}

// baselineMain is the child process: a bare net/http probe loop, one
// goroutine and one keep-alive connection per instance, each probe of each
// instance every interval (plus jitter, as vigil does). It measures its
// own CPU from /proc over the window after warmup and writes the result.
func baselineMain(args []string, stderr io.Writer) int {
	var a baselineArgs
	fs := flag.NewFlagSet("benchfleet -baseline-mode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Bool("baseline-mode", true, "run as the baseline child")
	fs.StringVar(&a.targets, "targets", "", "JSON file of targets")
	fs.StringVar(&a.result, "result", "", "where to write the JSON result")
	fs.DurationVar(&a.warmup, "warmup", 3*time.Second, "time before the window")
	fs.DurationVar(&a.window, "window", 20*time.Second, "measured window")
	fs.DurationVar(&a.interval, "interval", time.Second, "interval of each probe")
	fs.DurationVar(&a.timeout, "timeout", 500*time.Millisecond, "probe timeout")
	fs.IntVar(&a.jitter, "jitter", 10, "jitter percent")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ctx, stop := signalContext()
	defer stop()
	res, err := runBaseline(ctx, a)
	if err != nil {
		log.Error("baseline", "error", err)
		return 1
	}
	b, _ := json.Marshal(res)
	if err := os.WriteFile(a.result, b, 0o644); err != nil {
		log.Error("baseline: write result", "error", err)
		return 1
	}
	return 0
}

func runBaseline(ctx context.Context, a baselineArgs) (baselineResult, error) {
	var targets []baselineTarget
	b, err := os.ReadFile(a.targets)
	if err != nil {
		return baselineResult{}, fmt.Errorf("targets: %w", err)
	}
	if err := json.Unmarshal(b, &targets); err != nil {
		return baselineResult{}, fmt.Errorf("targets: %w", err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true, IdleConnTimeout: time.Minute}
	client := &http.Client{Transport: tr, Timeout: a.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer tr.CloseIdleConnections()

	var probes, late, errs atomic.Uint64
	loopCtx, stopLoops := context.WithCancel(ctx)
	var wg sync.WaitGroup
	start := time.Now()
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))
			probeLoop(loopCtx, client, t, start, a, rng, &probes, &late, &errs)
		}()
	}
	defer func() { stopLoops(); wg.Wait() }()

	if err := sleepCtx(ctx, a.warmup); err != nil {
		return baselineResult{}, err
	}
	// Its own CPU and peak RSS come from getrusage, not /proc: a loop
	// whose connections fail can use up every descriptor.
	cpu0, _, err := selfUsage()
	if err != nil {
		return baselineResult{}, err
	}
	t0, p0, l0, e0 := time.Now(), probes.Load(), late.Load(), errs.Load()
	if err := sleepCtx(ctx, a.window); err != nil {
		return baselineResult{}, err
	}
	cpu1, hwm, err := selfUsage()
	if err != nil {
		return baselineResult{}, err
	}
	t1, p1, l1, e1 := time.Now(), probes.Load(), late.Load(), errs.Load()
	return baselineResult{
		Targets: len(targets), Window: t1.Sub(t0).Seconds(),
		Probes: p1 - p0, Late: l1 - l0, Errors: e1 - e0,
		CPUSeconds: (cpu1 - cpu0).Seconds(), PeakRSSKB: hwm, Goroutines: runtime.NumGoroutine(),
	}, nil
}

// probeLoop probes one instance's liveness and readiness until ctx ends.
func probeLoop(ctx context.Context, client *http.Client, t baselineTarget, start time.Time, a baselineArgs,
	rng *rand.Rand, probes, late, errs *atomic.Uint64) {
	jittered := func() time.Duration {
		return a.interval + time.Duration(rng.Int64N(int64(a.interval)*int64(a.jitter)/100+1))
	}
	urls := [2]string{t.Live, t.Ready}
	due := [2]time.Time{start.Add(time.Duration(rng.Int64N(int64(a.interval))))}
	due[1] = due[0].Add(a.interval / 2)
	timer := time.NewTimer(time.Until(due[0]))
	defer timer.Stop()
	for {
		k := 0
		if due[1].Before(due[0]) {
			k = 1
		}
		timer.Reset(time.Until(due[k]))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := time.Now()
		probes.Add(1)
		if now.Sub(due[k]) > lateAfter {
			late.Add(1)
		}
		if !getOnce(ctx, client, urls[k]) {
			errs.Add(1)
		}
		due[k] = due[k].Add(jittered())
		if n := time.Now(); due[k].Before(n) {
			due[k] = n
		}
	}
}

// selfUsage is this process's user+system CPU so far and its peak RSS in
// KiB (ru_maxrss, the same high-water mark as VmHWM).
func selfUsage() (time.Duration, int64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, fmt.Errorf("getrusage: %w", err)
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return cpu, int64(ru.Maxrss), nil
}

// lateAfter is how far behind schedule a probe may start and still count
// as on time (as in vigil's scheduler).
const lateAfter = 100 * time.Millisecond

// getOnce is one bare probe: GET, read the body, check the status.
func getOnce(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close() // read to the end: nothing to lose
	return err == nil && resp.StatusCode >= 200 && resp.StatusCode < 300
}

// writeBaselineTargets writes every instance's probe URLs for the child.
func writeBaselineTargets(path string, instances []fleet.FileEntry) error {
	out := make([]baselineTarget, 0, len(instances))
	for _, in := range instances {
		live, ready := fleet.Format(in.Meta["format"]).Paths()
		out = append(out, baselineTarget{Live: "http://" + in.Address + live, Ready: "http://" + in.Address + ready})
	}
	b, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("baseline targets: %w", err)
	}
	return os.WriteFile(path, b, 0o644)
}

// runBaselineChild runs the bare loop as a child process and returns what
// it measured.
func runBaselineChild(ctx context.Context, p *procs, opts *Options, dir string, instances []fleet.FileEntry) (baselineResult, error) {
	targets := filepath.Join(dir, "baseline-targets.json")
	result := filepath.Join(dir, "baseline-result.json")
	if err := writeBaselineTargets(targets, instances); err != nil {
		return baselineResult{}, err
	}
	argv := append(append([]string(nil), opts.BaselineCmd...), "-baseline-mode", "-targets", targets, "-result", result,
		"-warmup", opts.BaselineWarmup.String(), "-window", opts.BaselineDuration.String(),
		"-interval", opts.Interval.String(), "-timeout", opts.Timeout.String(), "-jitter", strconv.Itoa(opts.Jitter))
	c, err := p.start("baseline", filepath.Join(dir, "baseline.log"), argv, opts.BaselineEnv)
	if err != nil {
		return baselineResult{}, err
	}
	limit := time.NewTimer(opts.BaselineWarmup + opts.BaselineDuration + time.Minute)
	defer limit.Stop()
	select {
	case <-c.done:
	case <-ctx.Done():
		p.stopChild(c, 5*time.Second)
		return baselineResult{}, ctx.Err()
	case <-limit.C:
		p.stopChild(c, 5*time.Second)
		return baselineResult{}, fmt.Errorf("baseline did not finish in time; see %s", filepath.Join(dir, "baseline.log"))
	}
	if c.err != nil {
		return baselineResult{}, fmt.Errorf("baseline: %v; see %s", c.err, filepath.Join(dir, "baseline.log"))
	}
	var r baselineResult
	b, err := os.ReadFile(result)
	if err != nil {
		return r, fmt.Errorf("baseline result: %w", err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("baseline result: %w", err)
	}
	return r, nil
}
