package main

import (
	"context"
	"math"
	"math/rand/v2"
	"time"

	"github.com/vigilhq/vigil/fleet"
	"github.com/vigilhq/vigil/membership"
)

// flipRecord is one flip and the status it should lead to.
type flipRecord struct {
	fleet.Flip
	kind int
}

var wantStatus = [numKinds]membership.Status{membership.StatusUnhealthy, membership.StatusDraining, membership.StatusHealthy}

// flipCycles flips a share of instances to notready and another to
// draining, waits for vigil to notice, flips them back to ready, waits
// again, and repeats while the window has room for another cycle (at
// least once).
func flipCycles(ctx context.Context, opts *Options, bf *benchFleet, events *eventLog, windowEnd time.Time,
	alive func() error) ([]flipRecord, int, error) {
	n := len(bf.all)
	kNot := shareOf(opts.NotReadyShare, n)
	kDrain := shareOf(opts.DrainShare, n)
	if kNot+kDrain == 0 {
		return nil, 0, nil
	}
	rng := rand.New(rand.NewPCG(opts.Seed, uint64(n)))
	maxI := opts.maxInterval()
	detectWait := time.Duration(opts.Fall+2)*maxI + 2*time.Second
	recoverWait := time.Duration(opts.Rise+2)*maxI + 2*time.Second
	cycleLen := time.Duration(opts.Fall+opts.Rise+2) * maxI
	if err := sleepCtx(ctx, 2*opts.Interval); err != nil { // some steady state first
		return nil, 0, err
	}
	var all []flipRecord
	cycles := 0
	for cycles == 0 || time.Until(windowEnd) > cycleLen+opts.Interval {
		perm := rng.Perm(n)
		var notIDs, drainIDs []string
		for _, i := range perm[:kNot] {
			notIDs = append(notIDs, bf.all[i].ID)
		}
		for _, i := range perm[kNot : kNot+kDrain] {
			drainIDs = append(drainIDs, bf.all[i].ID)
		}
		var down []flipRecord
		for _, step := range []struct {
			ids  []string
			to   fleet.State
			kind int
		}{{notIDs, fleet.StateNotReady, kindNotReady}, {drainIDs, fleet.StateDraining, kindDraining}} {
			if len(step.ids) == 0 {
				continue
			}
			fl, err := bf.flip(ctx, step.ids, step.to)
			if err != nil {
				return nil, 0, err
			}
			for _, f := range fl {
				down = append(down, flipRecord{Flip: f, kind: step.kind})
			}
		}
		all = append(all, down...)
		if err := awaitTransitions(ctx, events, down, detectWait, alive); err != nil {
			return nil, 0, err
		}
		if err := sleepCtx(ctx, opts.Interval/2); err != nil {
			return nil, 0, err
		}
		fl, err := bf.flip(ctx, append(notIDs, drainIDs...), fleet.StateReady)
		if err != nil {
			return nil, 0, err
		}
		var up []flipRecord
		for _, f := range fl {
			up = append(up, flipRecord{Flip: f, kind: kindReady})
		}
		all = append(all, up...)
		if err := awaitTransitions(ctx, events, up, recoverWait, alive); err != nil {
			return nil, 0, err
		}
		cycles++
		if err := sleepCtx(ctx, opts.Interval); err != nil {
			return nil, 0, err
		}
	}
	return all, cycles, nil
}

func shareOf(share float64, n int) int {
	if share <= 0 {
		return 0
	}
	return min(n, max(1, int(math.Round(share*float64(n)))))
}

// matchEvent finds the first transition of f's instance to its wanted
// status at or after the flip.
func matchEvent(events *eventLog, f flipRecord) (membership.Event, bool) {
	for _, ev := range events.events(f.ID) {
		if ev.To == wantStatus[f.kind] && ev.From != ev.To && !ev.Time.Before(f.Time) {
			return ev, true
		}
	}
	return membership.Event{}, false
}

// awaitTransitions waits until every flip has its transition, or timeout
// (a flip vigil never reacts to is reported as missing, not as an error).
func awaitTransitions(ctx context.Context, events *eventLog, flips []flipRecord, timeout time.Duration, alive func() error) error {
	pending := flips
	err := poll(ctx, timeout, 20*time.Millisecond, "transitions", func() (bool, error) {
		if err := alive(); err != nil {
			return false, err
		}
		rest := pending[:0:0]
		for _, f := range pending {
			if _, ok := matchEvent(events, f); !ok {
				rest = append(rest, f)
			}
		}
		pending = rest
		return len(pending) == 0, nil
	})
	if err != nil && (ctx.Err() != nil || alive() != nil) {
		return err
	}
	return nil
}

// latenciesOf matches flips to transitions and transitions to ADS arrivals.
func latenciesOf(opts *Options, flips []flipRecord, events *eventLog, ads *adsWatcher) ([numKinds]latencies, latencies) {
	var detect [numKinds][]time.Duration
	var missing [numKinds]int
	var prop []time.Duration
	propMissing := 0
	for _, f := range flips {
		ev, ok := matchEvent(events, f)
		if !ok {
			missing[f.kind]++
			continue
		}
		detect[f.kind] = append(detect[f.kind], ev.Time.Sub(f.Time))
		at, ok := ads.arrival(ev.Address, ev.Time, ev.To)
		if !ok {
			propMissing++
			continue
		}
		prop = append(prop, at.Sub(ev.Time))
	}
	floors := [numKinds]time.Duration{time.Duration(opts.Fall) * opts.Interval, opts.Interval, time.Duration(opts.Rise) * opts.Interval}
	var out [numKinds]latencies
	for k := range out {
		out[k] = summarize(detect[k], missing[k], floors[k])
	}
	return out, summarize(prop, propMissing, 0)
}
