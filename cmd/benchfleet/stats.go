package main

import (
	"math/rand/v2"
	"slices"
	"time"
)

// latencies summarises one kind of latency.
type latencies struct {
	Samples int           // matched
	Missing int           // expected but never observed
	P50     time.Duration // nearest rank
	P99     time.Duration
	Max     time.Duration
	Floor   time.Duration // the least it can be by design (0: none)
}

func summarize(ds []time.Duration, missing int, floor time.Duration) latencies {
	l := latencies{Samples: len(ds), Missing: missing, Floor: floor}
	if len(ds) == 0 {
		return l
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	l.P50, l.P99, l.Max = percentile(s, 50), percentile(s, 99), s[len(s)-1]
	return l
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(p/100*float64(len(sorted)) + 0.999999)
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// scheduleOnly is the detection latency the probe schedule alone allows
// (no processing time): a flip at a random moment, the first probe after
// it, then threshold-1 more probes each a jittered interval apart. It is a
// deterministic Monte Carlo estimate of p50 and p99.
func scheduleOnly(interval time.Duration, jitter, threshold int) (p50, p99 time.Duration) {
	const n = 50000
	rng := rand.New(rand.NewPCG(7, uint64(threshold)))
	jit := func() time.Duration {
		return interval + time.Duration(rng.Int64N(int64(interval)*int64(jitter)/100+1))
	}
	out := make([]time.Duration, n)
	for i := range out {
		// Probe times run from a random phase; the flip lands at a random
		// moment some intervals later.
		t := time.Duration(rng.Int64N(int64(interval)))
		flip := 5*interval + time.Duration(rng.Int64N(int64(interval)))
		for t <= flip {
			t += jit()
		}
		d := t - flip
		for range threshold - 1 {
			d += jit()
		}
		out[i] = d
	}
	slices.Sort(out)
	return percentile(out, 50), percentile(out, 99)
}
