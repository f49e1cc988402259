package main

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Options configure a benchmark run.
type Options struct {
	Sizes            []int         // fleet sizes, one run each
	Duration         time.Duration // measured window per size (extended to finish a flip cycle)
	Settle           time.Duration // steady running between the first round and the window
	BaselineWarmup   time.Duration
	BaselineDuration time.Duration // measured window of the bare net/http loop
	VigilBin         string
	FleetBin         string
	ConsulBin        string // the agent of the replica run
	ReplicaSize      int    // fleet size of the 3-replica run; 0: none
	// HostBase: fleets listen on 127.<HostBase+1>.0.1 on (0: 127.1.0.1), so
	// that two runs on one machine need not share addresses.
	HostBase      int
	Formats       string // fleetsim -formats (HTTP formats only)
	PerFleet      int    // instances per fleetsim process
	Interval      time.Duration
	Timeout       time.Duration
	Jitter        int // percent
	Rise, Fall    int // healthy_threshold, unhealthy_threshold
	NotReadyShare float64
	DrainShare    float64
	Seed          uint64
	SampleWorkers int // lateness sampler (used only without vigil_probes_late_total)
	WorkDir       string
	BaselineCmd   []string // argv prefix of the baseline child (it gets -baseline-mode ...)
	BaselineEnv   []string // extra environment of the baseline child
	Baseline      bool     // run the bare net/http loop after vigil
	NoFile        int      // vigil's open-file limit (soft and hard); 0: benchfleet's own
	Log           *slog.Logger
}

// DefaultOptions is `make bench`.
func DefaultOptions() Options {
	return Options{
		Sizes: []int{1000, 5000, 10000}, Duration: 40 * time.Second, Settle: 5 * time.Second,
		BaselineWarmup: 3 * time.Second, BaselineDuration: 20 * time.Second,
		VigilBin: "bin/vigil", FleetBin: "bin/fleetsim", ConsulBin: "bin/consul", ReplicaSize: 1000, Formats: "mix", PerFleet: 5000,
		Interval: time.Second, Timeout: 500 * time.Millisecond, Jitter: 10, Rise: 2, Fall: 3,
		NotReadyShare: 0.02, DrainShare: 0.01, Seed: 1, SampleWorkers: 16, Baseline: true,
	}
}

// meanInterval is the average time between two runs of one probe.
func (o *Options) meanInterval() time.Duration {
	return o.Interval + o.Interval*time.Duration(o.Jitter)/200
}

// maxInterval is the longest time between two runs of one probe.
func (o *Options) maxInterval() time.Duration {
	return o.Interval + o.Interval*time.Duration(o.Jitter)/100
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-sizes: %q is not a positive number", part)
		}
		out = append(out, n)
	}
	return out, nil
}
