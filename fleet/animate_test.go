package fleet

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// TestAnimate runs the scenario for a while and checks that instances
// changed states, that most stay ready, and that it stops with its context.
func TestAnimate(t *testing.T) {
	t.Parallel()
	f := startFleet(t, Spec{N: 20, Formats: AllFormats(), SlowDelay: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Animate(ctx, time.Millisecond, rand.New(rand.NewPCG(1, 2)))
	}()
	deadline := time.Now().Add(30 * time.Second)
	for len(f.Flips()) < 60 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Animate did not return after cancel")
	}
	flips := f.Flips()
	if len(flips) < 60 {
		t.Fatalf("only %d flips in 30s", len(flips))
	}
	seen := map[State]bool{}
	for _, fl := range flips {
		seen[fl.To] = true
	}
	for _, s := range States() {
		if !seen[s] {
			t.Errorf("Animate never moved an instance to %s", s)
		}
	}
	broken := 0
	for _, in := range f.Instances() {
		if in.State != StateReady {
			broken++
		}
	}
	if broken > 5 {
		t.Errorf("%d of 20 instances out of ready, want at most a fifth", broken)
	}
}
