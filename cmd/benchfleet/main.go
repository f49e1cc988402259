package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	if slices.Contains(os.Args[1:], "-baseline-mode") {
		os.Exit(baselineMain(os.Args[1:], os.Stderr))
	}
	os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr))
}

// signalContext ends on SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// cli parses flags, runs the benchmark and writes the report.
func cli(args []string, stdout, stderr io.Writer) int {
	opts := DefaultOptions()
	fs := flag.NewFlagSet("benchfleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sizes := fs.String("sizes", "1000,5000,10000", "comma-separated fleet sizes")
	fs.DurationVar(&opts.Duration, "duration", opts.Duration, "measured window per size")
	fs.DurationVar(&opts.Settle, "settle", opts.Settle, "steady running after the first round, before the window")
	fs.DurationVar(&opts.BaselineDuration, "baseline-duration", opts.BaselineDuration, "measured window of the net/http baseline per size")
	fs.DurationVar(&opts.BaselineWarmup, "baseline-warmup", opts.BaselineWarmup, "baseline warm-up before its window")
	fs.StringVar(&opts.VigilBin, "vigil", opts.VigilBin, "vigil binary")
	fs.StringVar(&opts.FleetBin, "fleetsim", opts.FleetBin, "fleetsim binary")
	fs.StringVar(&opts.ConsulBin, "consul", opts.ConsulBin, "consul binary (the 3-replica run)")
	fs.IntVar(&opts.ReplicaSize, "replica-size", opts.ReplicaSize, "fleet size of the 3-replica run (0: skip it)")
	fs.IntVar(&opts.HostBase, "host-base", opts.HostBase, "fleets listen on 127.<host-base+1>.0.1 on (keeps two runs on one machine apart)")
	fs.StringVar(&opts.Formats, "formats", opts.Formats, "fleetsim -formats (HTTP formats)")
	fs.IntVar(&opts.PerFleet, "per-fleet", opts.PerFleet, "instances per fleetsim process")
	fs.DurationVar(&opts.Interval, "interval", opts.Interval, "liveness and readiness interval")
	fs.DurationVar(&opts.Timeout, "timeout", opts.Timeout, "probe timeout")
	fs.IntVar(&opts.Jitter, "jitter", opts.Jitter, "jitter percent")
	fs.Float64Var(&opts.NotReadyShare, "notready-share", opts.NotReadyShare, "share of instances flipped to notready per cycle")
	fs.Float64Var(&opts.DrainShare, "drain-share", opts.DrainShare, "share of instances flipped to draining per cycle")
	fs.Uint64Var(&opts.Seed, "seed", opts.Seed, "seed of the flip choices")
	fs.IntVar(&opts.NoFile, "nofile", opts.NoFile, "vigil's open-file limit (ulimit -n; 0: inherit benchfleet's)")
	fs.BoolVar(&opts.Baseline, "baseline", opts.Baseline, "run the bare net/http loop after vigil (it keeps one connection per instance)")
	workDir := fs.String("workdir", "", "directory for configs and logs (default: a temporary one, removed after a successful run unless -keep)")
	keep := fs.Bool("keep", false, "keep the work directory")
	out := fs.String("out", "", "write the report to this file (default: stdout only)")
	goBench := fs.String("gobench", "bin/bench-go.txt", "go test -bench output to include")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*logLevel)); err != nil {
		_, _ = fmt.Fprintln(stderr, "benchfleet: -log-level:", err) // a failed write to stderr has nowhere to be reported
		return 2
	}
	opts.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))
	var err error
	if opts.Sizes, err = parseSizes(*sizes); err != nil {
		_, _ = fmt.Fprintln(stderr, "benchfleet:", err) // likewise
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "benchfleet:", err) // likewise
		return 1
	}
	opts.BaselineCmd = []string{self}
	if opts.WorkDir = *workDir; opts.WorkDir == "" {
		if opts.WorkDir, err = os.MkdirTemp("", "benchfleet-"); err != nil {
			_, _ = fmt.Fprintln(stderr, "benchfleet:", err) // likewise
			return 1
		}
	}
	ok := false
	defer func() {
		// A failed run keeps its configs and logs for inspection.
		if ok && !*keep && *workDir == "" {
			if err := os.RemoveAll(opts.WorkDir); err != nil {
				opts.Log.Warn("remove the work directory", "error", err)
			}
		}
	}()
	ctx, stop := signalContext()
	defer stop()

	rep := &report{When: time.Now(), Machine: describeMachine(), Opts: &opts, GoBenchFrom: *goBench,
		Command: "go run ./cmd/benchfleet " + strings.Join(args, " ")}
	if f, err := os.Open(*goBench); err == nil {
		rep.GoBench = parseGoBench(f)
		_ = f.Close() // read-only: nothing to lose
	}
	if *out != "" {
		rep.Notes = keptNotes(*out)
	}
	started := time.Now()
	rep.Sizes, rep.Replicas, err = runAll(ctx, &opts)
	if err != nil {
		opts.Log.Error("benchmark failed; configs and logs kept", "error", err, "workdir", opts.WorkDir)
		return 1
	}
	md := rep.markdown()
	if _, err := fmt.Fprint(stdout, md); err != nil {
		opts.Log.Warn("write report to stdout", "error", err)
	}
	if *out != "" {
		if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
			opts.Log.Error("write report", "error", err)
			return 1
		}
	}
	ok = true
	opts.Log.Info("benchmark done", "took", time.Since(started).Round(time.Second), "report", *out)
	return 0
}

// runAll measures every size in turn.
func runAll(ctx context.Context, opts *Options) ([]sizeResult, *replicaResult, error) {
	for _, bin := range []string{opts.VigilBin, opts.FleetBin} {
		if _, err := os.Stat(bin); err != nil {
			return nil, nil, fmt.Errorf("%w (run `make build` first)", err)
		}
	}
	var out []sizeResult
	hostSeq := opts.HostBase
	for _, n := range opts.Sizes {
		opts.Log.Info("measuring", "instances", n)
		r, err := runSize(ctx, opts, n, &hostSeq)
		if err != nil {
			return out, nil, fmt.Errorf("%d instances: %w", n, err)
		}
		out = append(out, r)
	}
	if opts.ReplicaSize <= 0 {
		return out, nil, nil
	}
	opts.Log.Info("measuring three replicas", "instances", opts.ReplicaSize)
	r, err := runReplicas(ctx, opts, opts.ReplicaSize, &hostSeq)
	if err != nil {
		return out, nil, fmt.Errorf("replicas, N=%d: %w", opts.ReplicaSize, err)
	}
	return out, &r, nil
}
