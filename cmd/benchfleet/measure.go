package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Metric names benchfleet reads from vigil's /metrics.
const (
	metricProbes     = "vigil_probes_total"         // completed probes
	metricStarted    = "vigil_probes_started_total" // optional: probes started
	metricLate       = "vigil_probes_late_total"    // optional: started > 100 ms after due
	metricGoroutines = "go_goroutines"
	metricSkipped    = "vigil_probes_skipped_total"                // optional: probes skipped for vigil's own faults
	metricKept       = `vigil_probe_connections{kind="kept"}`      // optional: kept connections held
	metricShortLived = "vigil_probe_short_lived_connections_total" // optional: short-lived connections opened
	metricFileLimit  = "vigil_open_files_limit"                    // optional
)

// flip kinds, in report order.
const (
	kindNotReady = iota
	kindDraining
	kindReady
	numKinds
)

var kindNames = [numKinds]string{"notready -> UNHEALTHY", "draining -> DRAINING", "ready -> HEALTHY (recovery)"}

// sizeResult is everything measured for one fleet size.
type sizeResult struct {
	N, Fleets     int
	Window        time.Duration
	Scheduled     float64 // probes/s the configuration asks for
	Achieved      float64 // probes/s completed
	OnTime        float64 // share of probes started within 100 ms of due
	OnTimeSamples int     // how many probes OnTime is based on
	OnTimeHow     string
	ReadyAfter    time.Duration // vigil start to /readyz 200 (its first probe round)
	StartOnTime   float64       // on-time share from vigil's start to the window (NaN: unknown)
	Cores         float64
	FleetCores    float64 // all fleetsim processes, over the window
	HarnessCores  float64 // benchfleet itself (watchers, sampler), over the window
	CPUPerProbeUS float64
	PeakRSSMiB    float64
	Goroutines    float64
	Detect        [numKinds]latencies
	Propagation   latencies
	Cycles        int
	Flips         int
	Events        int
	Resyncs       int
	Stalled       int // probes with no result for three intervals at the window's end
	ADSResponses  int
	Baseline      baselineResult
	FileLimit     float64 // vigil's open-file limit (0: not exported)
	Kept          float64 // connections kept at the window's end
	ShortLivedPS  float64 // short-lived connections opened per second
	Skipped       float64 // probes skipped in the window (NaN: not exported)
	Notes         []string
}

// sample is one reading of vigil's counters and of the CPU used so far by
// vigil, the fleets and benchfleet itself.
type sample struct {
	at      time.Time
	cpu     time.Duration
	fleets  time.Duration
	self    time.Duration
	metrics map[string]float64
}

func takeSample(ctx context.Context, pid int, adm *admin, bf *benchFleet) (sample, error) {
	m, err := adm.metrics(ctx)
	if err != nil {
		return sample{}, err
	}
	s := sample{at: time.Now(), metrics: m}
	if s.cpu, err = cpuTime(pid); err != nil {
		return s, err
	}
	for _, f := range bf.fleets {
		c, err := cpuTime(f.proc.pid())
		if err != nil {
			return s, err
		}
		s.fleets += c
	}
	s.self, err = cpuTime(os.Getpid())
	return s, err
}

// runSize measures one fleet size. Every process it starts is stopped
// before it returns.
func runSize(ctx context.Context, opts *Options, n int, hostSeq *int) (res sizeResult, err error) {
	log := opts.Log.With("n", n)
	dir := filepath.Join(opts.WorkDir, fmt.Sprintf("n%d", n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	p := &procs{log: log}
	defer p.stopAll(10 * time.Second)
	res.N = n

	bf, err := startFleets(ctx, p, opts, n, hostSeq, dir)
	if err != nil {
		return res, err
	}
	res.Fleets = len(bf.fleets)
	setup, err := writeVigilConfig(dir, opts, bf.all)
	if err != nil {
		return res, err
	}
	vig, err := p.start("vigil", filepath.Join(dir, "vigil.log"), vigilArgv(opts, setup.configPath), nil)
	if err != nil {
		return res, err
	}
	adm := &admin{base: "http://" + setup.admin, client: &http.Client{Timeout: 10 * time.Second}}
	alive := func() error {
		if vig.exited() {
			return fmt.Errorf("vigil exited (%v); see %s", vig.err, filepath.Join(dir, "vigil.log"))
		}
		return nil
	}
	if err := adm.waitServing(ctx, "vigil's admin API", alive); err != nil {
		return res, err
	}

	// Watchers run from now until vigil stops.
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	events := newEventLog()
	evDone, err := events.follow(watchCtx, adm)
	if err != nil {
		return res, err
	}
	ads := newADSWatcher()
	adsDone := make(chan struct{})
	var adsErr error
	go func() { defer close(adsDone); adsErr = ads.run(watchCtx, setup.xds, setup.clusters) }()

	started := time.Now()
	err = poll(ctx, 2*time.Minute, 20*time.Millisecond, "vigil /readyz (first probe round)", func() (bool, error) {
		if err := alive(); err != nil {
			return false, err
		}
		return adm.ready(ctx)
	})
	if err != nil {
		return res, err
	}
	res.ReadyAfter = time.Since(started)
	log.Info("vigil ready", "after", res.ReadyAfter.Round(time.Millisecond))
	err = poll(ctx, time.Minute, 100*time.Millisecond, "every instance HEALTHY and every assignment on the ADS stream", func() (bool, error) {
		if err := alive(); err != nil {
			return false, err
		}
		select {
		case <-adsDone:
			return false, fmt.Errorf("ADS watcher stopped: %v", adsErr)
		default:
		}
		s, err := adm.summary(ctx)
		if err != nil {
			return false, err
		}
		return s.Counts["HEALTHY"] == n && ads.complete(), nil
	})
	if err != nil {
		return res, err
	}

	// Startup (dialing every instance, the first rounds) is over once
	// every instance is HEALTHY; let the schedule settle before measuring
	// steady running. Startup's own lateness is reported apart.
	if err := sleepCtx(ctx, opts.Settle); err != nil {
		return res, err
	}

	// The measured window.
	s0, err := takeSample(ctx, vig.pid(), adm, bf)
	if err != nil {
		return res, err
	}
	res.StartOnTime = math.NaN()
	if st, ok := s0.metrics[metricStarted]; ok && st > 0 {
		res.StartOnTime = 1 - s0.metrics[metricLate]/st
	}
	_, resyncs0 := events.counts()
	_, hasLate := s0.metrics[metricLate]
	var sampler *lateSampler
	samplerDone := make(chan struct{})
	samplerCtx, stopSampler := context.WithCancel(ctx)
	defer stopSampler()
	if hasLate {
		close(samplerDone)
	} else {
		sampler = &lateSampler{adm: adm, instances: bf.all, interval: opts.Interval}
		go func() { defer close(samplerDone); sampler.run(samplerCtx, opts.SampleWorkers, opts.Seed) }()
	}
	windowEnd := s0.at.Add(opts.Duration)
	log.Info("window started", "duration", opts.Duration)

	flips, cycles, err := flipCycles(ctx, opts, bf, events, windowEnd, alive)
	if err != nil {
		return res, err
	}
	if err := sleepCtx(ctx, time.Until(windowEnd)); err != nil {
		return res, err
	}
	stopSampler()
	<-samplerDone
	s1, err := takeSample(ctx, vig.pid(), adm, bf)
	if err != nil {
		return res, err
	}
	hwm, err := statusKB(vig.pid(), "VmHWM")
	if err != nil {
		return res, err
	}
	// Let the last assignments arrive before reading the watcher.
	_ = sleepCtx(ctx, 500*time.Millisecond)

	wall := s1.at.Sub(s0.at)
	res.Window = wall
	probes := s1.metrics[metricProbes] - s0.metrics[metricProbes]
	res.Scheduled = float64(2*n) / opts.meanInterval().Seconds()
	res.Achieved = probes / wall.Seconds()
	res.Cores = (s1.cpu - s0.cpu).Seconds() / wall.Seconds()
	res.FleetCores = (s1.fleets - s0.fleets).Seconds() / wall.Seconds()
	res.HarnessCores = (s1.self - s0.self).Seconds() / wall.Seconds()
	if probes > 0 {
		res.CPUPerProbeUS = (s1.cpu - s0.cpu).Seconds() / probes * 1e6
	}
	res.PeakRSSMiB = float64(hwm) / 1024
	res.FileLimit, res.Kept = s1.metrics[metricFileLimit], s1.metrics[metricKept]
	res.ShortLivedPS = (s1.metrics[metricShortLived] - s0.metrics[metricShortLived]) / wall.Seconds()
	res.Skipped = math.NaN()
	if _, ok := s1.metrics[metricSkipped]; ok {
		res.Skipped = s1.metrics[metricSkipped] - s0.metrics[metricSkipped]
	}
	res.Goroutines = s1.metrics[metricGoroutines]
	if hasLate {
		startedN := s1.metrics[metricStarted] - s0.metrics[metricStarted]
		if startedN <= 0 {
			startedN = probes
		}
		late := s1.metrics[metricLate] - s0.metrics[metricLate]
		res.OnTime, res.OnTimeSamples, res.OnTimeHow = 1-late/startedN, int(startedN), "vigil "+metricLate
	} else {
		k, late, errs := sampler.result()
		if k > 0 {
			res.OnTime = 1 - float64(late)/float64(k)
		} else {
			res.OnTime = math.NaN()
		}
		res.OnTimeSamples, res.OnTimeHow = k, "sampled from the admin API"
		if errs > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("lateness sampler: %d failed admin calls", errs))
		}
		res.Notes = append(res.Notes, fmt.Sprintf("vigil does not export %s: the on-time share is estimated from %d sampled probes (due time and start time read from the admin API); the sampler's admin calls are included in vigil's CPU", metricLate, k))
	}
	res.Cycles, res.Flips = cycles, len(flips)
	res.Events, res.Resyncs = events.counts()
	res.Resyncs -= resyncs0
	res.ADSResponses = ads.count()
	res.Detect, res.Propagation = latenciesOf(opts, flips, events, ads)
	if res.Resyncs > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("the admin event stream lost events %d times during the window (resync): transitions it missed count as never seen", res.Resyncs))
	}

	// Every probe of every instance must still be running.
	stalled, err := adm.stalled(ctx, setup.clusters, time.Now(), 3*opts.maxInterval()+opts.Timeout)
	if err != nil {
		return res, err
	}
	res.Stalled = len(stalled)
	if len(stalled) > 0 {
		log.Error("probes stopped running", "count", len(stalled), "first", stalled[:min(len(stalled), 10)])
		res.Notes = append(res.Notes, fmt.Sprintf("%d probes had no result for over three intervals at the end of the window (stalled): %s",
			len(stalled), strings.Join(stalled[:min(len(stalled), 5)], ", ")))
	}

	// Stop vigil, then run the baseline against the same fleet.
	stopWatch()
	if err := vig.stop(15 * time.Second); err != nil {
		res.Notes = append(res.Notes, err.Error())
	}
	if err := <-evDone; err != nil {
		log.Debug("event stream", "error", err)
	}
	<-adsDone
	if adsErr != nil {
		log.Warn("ads watcher", "error", adsErr)
		res.Notes = append(res.Notes, "ADS watcher: "+adsErr.Error())
	}
	log.Info("vigil measured", "probes_per_s", math.Round(res.Achieved), "cpu_us_per_probe", fmt.Sprintf("%.1f", res.CPUPerProbeUS),
		"cores", fmt.Sprintf("%.3f", res.Cores))
	if !opts.Baseline {
		return res, nil
	}
	res.Baseline, err = runBaselineChild(ctx, p, opts, dir, bf.all)
	if err != nil {
		return res, err
	}
	log.Info("baseline measured", "probes_per_s", math.Round(res.Baseline.perSecond()),
		"cpu_us_per_probe", fmt.Sprintf("%.1f", res.Baseline.cpuPerProbeUS()))
	return res, nil
}

// vigilArgv runs vigil serve on configPath, under opts.NoFile as its
// open-file limit when set (soft and hard, so Go's raise at start cannot
// lift it; exec keeps the pid vigil's).
func vigilArgv(opts *Options, configPath string) []string {
	argv := []string{opts.VigilBin, "serve", "-config", configPath}
	if opts.NoFile <= 0 {
		return argv
	}
	return append([]string{"/bin/sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, opts.NoFile)}, argv...)
}
