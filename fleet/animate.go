package fleet

import (
	"context"
	"math/rand/v2"
	"time"
)

// animateMaxBroken is the share of instances Animate keeps out of ready at most.
const animateMaxBroken = 0.2

// Animate changes random instances' states every interval so a dashboard
// shows life: ready instances drain, fail, slow down, degrade or die; broken
// ones recover (dead ones come back not ready or ready). At most about a
// fifth of the fleet is out of ready at any time. It blocks until ctx is
// done or the fleet is closed.
func (f *Fleet) Animate(ctx context.Context, every time.Duration, rng *rand.Rand) {
	if len(f.insts) == 0 || every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.done:
			return
		case <-t.C:
		}
		f.animateStep(rng)
	}
}

// animateStep makes one change.
func (f *Fleet) animateStep(rng *rand.Rand) {
	var ready, broken []*instance
	for _, in := range f.insts {
		if in.getState() == StateReady {
			ready = append(ready, in)
		} else {
			broken = append(broken, in)
		}
	}
	tooMany := float64(len(broken)) >= animateMaxBroken*float64(len(f.insts))
	if len(broken) > 0 && (tooMany || len(ready) == 0 || rng.IntN(2) == 0) {
		in := broken[rng.IntN(len(broken))]
		to := StateReady
		if in.getState() == StateDead && rng.IntN(2) == 0 {
			to = StateNotReady // restarting: alive but not ready yet
		}
		f.animateSet(in, to)
		return
	}
	if len(ready) == 0 {
		return
	}
	in := ready[rng.IntN(len(ready))]
	var to State
	switch p := rng.IntN(100); {
	case p < 30:
		to = StateNotReady
	case p < 50:
		to = StateDraining
	case p < 65:
		to = StateDead
	case p < 80:
		to = StateDegraded
	default:
		to = StateSlow
	}
	f.animateSet(in, to)
}

func (f *Fleet) animateSet(in *instance, to State) {
	if _, err := f.Set(in.id, to); err != nil {
		f.log.Warn("fleet: animate", "id", in.id, "to", to, "err", err)
	}
}
