package aggregator

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/seedtest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// TestConcurrentTransitionsAndReloads: hundreds of instances flip together
// while reloads change their weights. Every transition reaches the store,
// each instance's events form an unbroken chain, and no batch of older
// writes ever undoes a reload.
func TestConcurrentTransitionsAndReloads(t *testing.T) {
	srv := seedtest.NewServer(t, seedtest.HealthzReady)
	store := membership.NewStore(100000)
	agg := New(Options{Store: store, MaxConcurrency: 64, Logger: slog.New(slog.DiscardHandler)})
	p := httpProbe("/readyz", upstreams.DialectHealthz)
	p.Interval, p.UnhealthyInterval, p.Timeout, p.JitterPercent = 20*time.Millisecond, 20*time.Millisecond, 500*time.Millisecond, 10
	p.HealthyThreshold, p.UnhealthyThreshold = 1, 1
	cluster := func(weight uint32) upstreams.Cluster {
		c := upstreams.Cluster{Name: "many", InitialStatus: upstreams.InitialUnhealthy, Readiness: p}
		for i := range 300 {
			c.Instances = append(c.Instances, upstreams.Instance{ID: fmt.Sprintf("i%03d", i), Address: srv.Addr(), Weight: weight})
		}
		return c
	}
	if err := agg.Apply([]upstreams.Cluster{cluster(1)}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := agg.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	defer func() { cancel(); <-done }()

	waitAll := func(want membership.Status, weight uint32) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			c, _ := store.Cluster("many")
			ok := true
			for _, m := range c.Members {
				if m.Status != want || m.Weight != weight {
					ok = false
					break
				}
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("members never all %s with weight %d", want, weight)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitAll(membership.StatusHealthy, 1)
	for round := uint32(2); round <= 6; round++ {
		if round%2 == 0 {
			srv.Set(seedtest.HealthzNotReady)
		} else {
			srv.Set(seedtest.HealthzReady)
		}
		// Reload while the transitions are in flight.
		time.Sleep(10 * time.Millisecond)
		if err := agg.Apply([]upstreams.Cluster{cluster(round)}); err != nil {
			t.Fatal(err)
		}
		if round%2 == 0 {
			waitAll(membership.StatusUnhealthy, round)
		} else {
			waitAll(membership.StatusHealthy, round)
		}
	}
	// Each instance's transitions chain: every event starts where the last ended.
	evs := store.Events(membership.EventQuery{Limit: 100000})
	last := map[string]membership.Status{}
	count := map[string]int{}
	for i := len(evs) - 1; i >= 0; i-- { // oldest first
		ev := evs[i]
		if ev.Kind != membership.EventTransition {
			continue
		}
		if prev, ok := last[ev.Instance]; ok && prev != ev.From {
			t.Fatalf("%s: transition from %s after one to %s", ev.Instance, ev.From, prev)
		}
		last[ev.Instance] = ev.To
		count[ev.Instance]++
	}
	for id, n := range count {
		if n != 6 || last[id] != membership.StatusUnhealthy {
			t.Errorf("%s: %d transitions ending %s, want 6 ending UNHEALTHY", id, n, last[id])
		}
	}
	if len(count) != 300 {
		t.Errorf("%d instances have transitions, want 300", len(count))
	}
}
