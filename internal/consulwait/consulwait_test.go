package consulwait

import (
	"context"
	"testing"
	"time"
)

func TestNextIndex(t *testing.T) {
	for _, c := range []struct {
		name           string
		prev, got, out uint64
	}{
		{"first answer", 0, 42, 42},
		{"timeout without change", 42, 42, 42},
		{"change", 42, 50, 50},
		{"went backwards: re-read at once, then block on the fresh index", 50, 7, 0},
		{"backwards to zero: same", 50, 0, 0},
		{"zero is never waited on", 0, 0, 1},
		{"and 1 stays 1", 0, 1, 1},
		{"recovers from the forced 1", 1, 100, 100},
	} {
		if got := NextIndex(c.prev, c.got); got != c.out {
			t.Errorf("%s: NextIndex(%d, %d) = %d, want %d", c.name, c.prev, c.got, got, c.out)
		}
	}
}

func TestBackoffDoublesUpToMaxWithJitterAndResets(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: 800 * time.Millisecond}
	steps := []time.Duration{100, 200, 400, 800, 800}
	for round := range 2 {
		for i, step := range steps {
			step *= time.Millisecond
			d := b.Next()
			if d < step/2 || d > step {
				t.Fatalf("round %d try %d: delay %s, want within [%s, %s]", round, i, d, step/2, step)
			}
		}
		b.Reset()
	}
}

func TestSleep(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Error("Sleep on a live context reported it ended")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if Sleep(ctx, time.Hour) {
		t.Error("Sleep on an ended context reported it live")
	}
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("Sleep on an ended context waited %s", waited)
	}
	if Sleep(ctx, 0) {
		t.Error("Sleep(0) on an ended context reported it live")
	}
}
