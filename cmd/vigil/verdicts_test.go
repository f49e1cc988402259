package main

import (
	"testing"
	"time"

	"github.com/vigilhq/vigil/fleet"
)

// TestVerdictWritesSteadyAndUnderChurn measures the verdict file's writes
// with the real aggregator probing the simulated fleet every 200 ms: a
// steady fleet writes nothing, and a fleet where an instance drains or
// returns every 50 ms is written at most once a second.
func TestVerdictWritesSteadyAndUnderChurn(t *testing.T) {
	f := startFleet(t)
	r := startVigil(t, f, nil)
	var httpInsts []string // every format but grpc drains at once
	for _, in := range f.Instances() {
		r.waitStatus(clusterOf(in.Format), in.ID, "HEALTHY")
		if in.Format != fleet.FormatGRPC {
			httpInsts = append(httpInsts, in.ID)
		}
	}
	w := r.app.restart.writer
	waitUntil(t, 10*time.Second, "the verdicts written", func() bool { return w.Stats().Writes > 0 })
	time.Sleep(1100 * time.Millisecond) // the last of the first round's changes lands within a second

	const window = 3 * time.Second
	before := w.Stats()
	time.Sleep(window)
	steady := w.Stats()
	t.Logf("steady fleet of %d instances probed every 200 ms: %d transactions, %d records in %s",
		len(f.Instances()), steady.Writes-before.Writes, steady.Puts-before.Puts, window)
	if steady != before {
		t.Errorf("a steady fleet wrote the verdict file: %+v, then %+v", before, steady)
	}

	start := time.Now()
	flips := 0
	for i := 0; time.Since(start) < window; i++ {
		state := fleet.StateDraining
		if (i/len(httpInsts))%2 == 1 {
			state = fleet.StateReady
		}
		if _, err := f.Set(httpInsts[i%len(httpInsts)], state); err != nil {
			t.Fatal(err)
		}
		flips++
		time.Sleep(50 * time.Millisecond)
	}
	elapsed := time.Since(start)
	churn := w.Stats()
	writes := churn.Writes - steady.Writes
	t.Logf("churn: %d flips in %s: %d transactions (%.1f/s), %d records", flips, elapsed.Round(time.Millisecond),
		writes, float64(writes)/elapsed.Seconds(), churn.Puts-steady.Puts)
	if writes == 0 || writes > uint64(elapsed/time.Second)+2 {
		t.Errorf("%d transactions in %s of churn, want some and at most one a second", writes, elapsed)
	}
}
