package aggregator

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/seedtest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// With the real clock and default options, every instance's next probe, as
// the instance API reports it, lies on the 50 ms dispatch grid once it has
// run, and the probes of many instances share a handful of instants; with
// the grid turned off they do not.
func TestRealClockProbesFallDueOnTheGrid(t *testing.T) {
	srv := seedtest.NewServer(t, seedtest.HealthzReady)
	for _, tc := range []struct {
		grid   time.Duration
		onGrid bool
	}{{0, true}, {-1, false}} {
		t.Run(fmt.Sprint("grid=", tc.grid), func(t *testing.T) {
			agg := New(Options{Store: membership.NewStore(0), MaxConcurrency: 8, DispatchGrid: tc.grid})
			probe := httpProbe("/readyz", upstreams.DialectHealthz)
			probe.Interval, probe.JitterPercent = 200*time.Millisecond, 50 // jitter span 100 ms: three instants
			var insts []upstreams.Instance
			for i := range 30 {
				insts = append(insts, upstreams.Instance{ID: fmt.Sprint(i), Address: srv.Addr()})
			}
			if err := agg.Apply([]upstreams.Cluster{{Name: "c", Readiness: probe, Instances: insts}}); err != nil {
				t.Fatal(err)
			}
			runUntilCleanup(t, agg)
			time.Sleep(time.Second) // about four runs each
			instants := map[int64]bool{}
			off, queued := 0, 0
			for _, in := range insts {
				d, err := agg.Instance("c", in.ID)
				if err != nil {
					t.Fatal(err)
				}
				if len(d.Readiness.History) < 2 {
					t.Fatalf("instance %s ran %d probes in 1s at a 200ms interval", in.ID, len(d.Readiness.History))
				}
				if d.Readiness.NextProbe.IsZero() {
					continue // running right now: not queued
				}
				queued++
				next := d.Readiness.NextProbe.UnixNano()
				instants[next] = true
				if next%int64(DefaultDispatchGrid) != 0 {
					off++
				}
			}
			if queued < len(insts)/2 {
				t.Fatalf("only %d of %d instances queued", queued, len(insts))
			}
			if tc.onGrid && (off != 0 || len(instants) > 7) {
				t.Fatalf("%d of %d next probes off the grid, %d distinct instants: want all on it, at most 7", off, len(insts), len(instants))
			}
			if !tc.onGrid && off == 0 {
				t.Fatalf("grid off, yet all %d next probes lie on 50 ms instants", len(insts))
			}
		})
	}
}
