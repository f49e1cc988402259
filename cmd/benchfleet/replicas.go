package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vigilhq/vigil/consul/consultest"
)

// Replica metrics benchfleet reads.
const (
	metricStreamBytes    = "vigil_replica_stream_bytes_total" // sent + received, summed over direction
	metricHeartbeatBytes = "vigil_replica_heartbeat_bytes_sent_total"
	replicaCount         = 3
)

// replicaResult is the 3-replica run at one fleet size.
type replicaResult struct {
	N              int
	Window         time.Duration
	CPUPerProbeUS  []float64 // per replica
	Cores          []float64
	SteadyBytesSec float64 // verdict-stream bytes per second per replica pair and direction, no flips
	BytesPerFlip   float64 // non-heartbeat bytes per flip per sending replica per peer
	Flips          int
	// Propagation: from the first replica publishing a transition in its
	// merged view to each replica's ADS watcher receiving it.
	Propagation latencies
	Agreement   latencies // spread between the first and the last replica's ADS arrival per flip
	Notes       []string
}

// replicaNode is one replica process with its watchers.
type replicaNode struct {
	id     string
	proc   *child
	adm    *admin
	events *eventLog
	ads    *adsWatcher
	setup  *vigilSetup
}

// runReplicas measures three replicas (each probing every instance, verdict
// streams between them, quorum majority) against a Consul agent started
// from opts.ConsulBin. Every process it starts is stopped before it returns.
func runReplicas(ctx context.Context, opts *Options, n int, hostSeq *int) (res replicaResult, err error) {
	log := opts.Log.With("n", n, "replicas", replicaCount)
	dir := filepath.Join(opts.WorkDir, fmt.Sprintf("replicas-n%d", n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	res.N = n
	agent, err := consultest.Start(opts.ConsulBin)
	if err != nil {
		return res, fmt.Errorf("consul agent: %w", err)
	}
	defer agent.Kill()
	p := &procs{log: log}
	defer p.stopAll(10 * time.Second)
	bf, err := startFleets(ctx, p, opts, n, hostSeq, dir)
	if err != nil {
		return res, err
	}
	var nodes []*replicaNode
	for i := range replicaCount {
		id := string(rune('a' + i))
		rdir := filepath.Join(dir, id)
		if err := os.MkdirAll(rdir, 0o755); err != nil {
			return res, err
		}
		setup, err := writeVigilConfig(rdir, opts, bf.all)
		if err != nil {
			return res, err
		}
		block := fmt.Sprintf("consul: {address: %q, deployment: bench}\nreplicas: {enabled: true, id: %s, session_ttl: 10s, quorum: majority}\n",
			agent.HTTPAddr, id)
		if err := appendFile(setup.configPath, block); err != nil {
			return res, err
		}
		proc, err := p.start("vigil-"+id, filepath.Join(rdir, "vigil.log"), []string{opts.VigilBin, "serve", "-config", setup.configPath}, nil)
		if err != nil {
			return res, err
		}
		nodes = append(nodes, &replicaNode{id: id, proc: proc, setup: setup, events: newEventLog(), ads: newADSWatcher(),
			adm: &admin{base: "http://" + setup.admin, client: &http.Client{Timeout: 10 * time.Second}}})
	}
	alive := func() error {
		for _, nd := range nodes {
			if nd.proc.exited() {
				return fmt.Errorf("vigil %s exited (%v); see its log in %s", nd.id, nd.proc.err, dir)
			}
		}
		return nil
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	for _, nd := range nodes {
		if err := nd.adm.waitServing(ctx, "vigil "+nd.id+" admin API", alive); err != nil {
			return res, err
		}
		if _, err := nd.events.follow(watchCtx, nd.adm); err != nil {
			return res, err
		}
		go func() { _ = nd.ads.run(watchCtx, nd.setup.xds, nd.setup.clusters) }()
	}
	err = poll(ctx, 2*time.Minute, 100*time.Millisecond, "every replica ready, every instance HEALTHY, every assignment over ADS", func() (bool, error) {
		if err := alive(); err != nil {
			return false, err
		}
		for _, nd := range nodes {
			if ok, err := nd.adm.ready(ctx); err != nil || !ok {
				return false, nil
			}
			s, err := nd.adm.summary(ctx)
			if err != nil || s.Counts["HEALTHY"] != n || !nd.ads.complete() {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return res, err
	}
	if err := sleepCtx(ctx, opts.Settle); err != nil {
		return res, err
	}

	// Steady state: no flips, only heartbeats should cross.
	s0, err := sampleReplicas(ctx, nodes)
	if err != nil {
		return res, err
	}
	if err := sleepCtx(ctx, 10*time.Second); err != nil {
		return res, err
	}
	s1, err := sampleReplicas(ctx, nodes)
	if err != nil {
		return res, err
	}
	pairs := float64(replicaCount * (replicaCount - 1)) // ordered sender -> receiver
	streamBytes := func(a, b []sample) (total, heartbeat float64) {
		for i := range a {
			total += b[i].metrics[metricStreamBytes] - a[i].metrics[metricStreamBytes]
			heartbeat += b[i].metrics[metricHeartbeatBytes] - a[i].metrics[metricHeartbeatBytes]
		}
		return total / 2, heartbeat // every byte is counted sent and received
	}
	steady, _ := streamBytes(s0, s1)
	res.SteadyBytesSec = steady / s1[0].at.Sub(s0[0].at).Seconds() / pairs

	// The window: the same flip cycles as a single vigil's, decided by
	// replica a's merged view.
	windowEnd := s1[0].at.Add(opts.Duration)
	log.Info("replica window started", "duration", opts.Duration)
	flips, _, err := flipCycles(ctx, opts, bf, nodes[0].events, windowEnd, alive)
	if err != nil {
		return res, err
	}
	if err := sleepCtx(ctx, time.Until(windowEnd)); err != nil {
		return res, err
	}
	s2, err := sampleReplicas(ctx, nodes)
	if err != nil {
		return res, err
	}
	_ = sleepCtx(ctx, 500*time.Millisecond) // the last assignments
	res.Window = s2[0].at.Sub(s1[0].at)
	for i := range nodes {
		probes := s2[i].metrics[metricProbes] - s1[i].metrics[metricProbes]
		cpu := (s2[i].cpu - s1[i].cpu).Seconds()
		res.Cores = append(res.Cores, cpu/res.Window.Seconds())
		if probes > 0 {
			res.CPUPerProbeUS = append(res.CPUPerProbeUS, cpu/probes*1e6)
		}
	}
	total, heartbeat := streamBytes(s1, s2)
	res.Flips = len(flips)
	if res.Flips > 0 {
		res.BytesPerFlip = (total - heartbeat) / float64(res.Flips) / pairs
	}
	res.Propagation, res.Agreement = replicaLatencies(flips, nodes)
	log.Info("replicas measured", "cpu_us_per_probe", res.CPUPerProbeUS, "propagation_p99", res.Propagation.P99,
		"steady_bytes_per_s", res.SteadyBytesSec, "bytes_per_flip", res.BytesPerFlip)
	return res, nil
}

// sampleReplicas reads every replica's metrics and CPU.
func sampleReplicas(ctx context.Context, nodes []*replicaNode) ([]sample, error) {
	out := make([]sample, len(nodes))
	for i, nd := range nodes {
		m, err := nd.adm.metrics(ctx)
		if err != nil {
			return nil, err
		}
		out[i] = sample{at: time.Now(), metrics: m}
		if out[i].cpu, err = cpuTime(nd.proc.pid()); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// replicaLatencies: per flip, the first merged-view transition among the
// replicas, and from it each replica's ADS arrival (propagation) and the
// spread of the arrivals (agreement).
func replicaLatencies(flips []flipRecord, nodes []*replicaNode) (prop, agreement latencies) {
	var ps, spread []time.Duration
	missing, spreadMissing := 0, 0
	for _, f := range flips {
		var first time.Time
		addr := ""
		for _, nd := range nodes {
			ev, ok := matchEvent(nd.events, f)
			if ok && (first.IsZero() || ev.Time.Before(first)) {
				first, addr = ev.Time, ev.Address
			}
		}
		if first.IsZero() {
			missing += len(nodes)
			spreadMissing++
			continue
		}
		var arrivals []time.Time
		for _, nd := range nodes {
			at, ok := nd.ads.arrival(addr, first, wantStatus[f.kind])
			if !ok {
				missing++
				continue
			}
			ps = append(ps, at.Sub(first))
			arrivals = append(arrivals, at)
		}
		if len(arrivals) != len(nodes) {
			spreadMissing++
			continue
		}
		slices.SortFunc(arrivals, func(a, b time.Time) int { return a.Compare(b) })
		spread = append(spread, arrivals[len(arrivals)-1].Sub(arrivals[0]))
	}
	return summarize(ps, missing, 0), summarize(spread, spreadMissing, 0)
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		_ = f.Close() // the write's error is the one to report
		return err
	}
	return f.Close()
}

// targetReplicaPropagation is how much later than a single vigil's the
// merged view may reach Envoy (issue 15).
const targetReplicaPropagation = 100 * time.Millisecond

// replicaTable writes the 3-replica run, next to the single vigil's run
// at the same size when there is one.
func (r *report) replicaTable(b *strings.Builder) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	x := r.Replicas
	var single *sizeResult
	for i := range r.Sizes {
		if r.Sizes[i].N == x.N {
			single = &r.Sizes[i]
		}
	}
	w("## Three replicas\n\n")
	w("Three `vigil serve` processes with `replicas: {enabled: true, quorum: majority, session_ttl: 10s}` against one `bin/consul` dev agent, each probing all %s instances (the same settings as above), streaming its verdicts to the other two and publishing the merged view. The same flip cycles as above for %s. Bytes are the verdict streams' NDJSON lines as the replicas count them (`vigil_replica_stream_bytes_total`), without TCP/IP headers. Propagation: from the first replica whose merged view shows a transition (its admin event stream) to each replica's ADS watcher receiving it.\n\n",
		thousands(x.N), x.Window.Round(time.Second))
	w("| | target | three replicas | single vigil, N = %s |\n|---|---|---|---|\n", thousands(x.N))
	singleCPU, singleProp := "—", "—"
	if single != nil {
		singleCPU, singleProp = fmt.Sprintf("%.1f", single.CPUPerProbeUS), ms(single.Propagation.P99)
	}
	var cpus []string
	for _, c := range x.CPUPerProbeUS {
		cpus = append(cpus, fmt.Sprintf("%.1f", c))
	}
	w("| CPU per probe per replica (µs) | %.0f | %s | %s |\n", targetCPUPerProbeUS, strings.Join(cpus, " / "), singleCPU)
	propOK := single != nil && x.Propagation.P99 <= single.Propagation.P99+targetReplicaPropagation
	w("| merged-view propagation p50 / p99 / max | p99 within %s of a single vigil's %s | %s / %s / %s (%d samples, %d missing) | %s |\n",
		ms(targetReplicaPropagation), passMiss(propOK), ms(x.Propagation.P50), ms(x.Propagation.P99), ms(x.Propagation.Max),
		x.Propagation.Samples, x.Propagation.Missing, singleProp)
	w("| spread of the three EDS arrivals per flip p50 / p99 | | %s / %s | |\n", ms(x.Agreement.P50), ms(x.Agreement.P99))
	w("| stream bytes per second per replica pair and direction, steady | heartbeats only | %.1f | |\n", x.SteadyBytesSec)
	w("| stream bytes per flip per sending replica per peer (no heartbeats) | bytes, not the fleet | %.0f (%d flips) | |\n\n", x.BytesPerFlip, x.Flips)
	for _, n := range x.Notes {
		w("- %s\n", n)
	}
}
