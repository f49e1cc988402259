package metrics

import (
	"context"

	"github.com/vigilhq/vigil/membership"
)

// subscriptionEvents bounds the events buffered between two reads of the
// store subscription; past it, transitions are undercounted (and counted in
// vigil_metrics_events_dropped_total).
const subscriptionEvents = 1 << 16

// Run keeps vigil_instances, vigil_instances_held, vigil_fail_safe_holding
// and vigil_transitions_total current from the store's subscription, and
// the probe series to the probes each cluster has, until ctx ends. It
// returns nil when ctx ends.
func (m *Metrics) Run(ctx context.Context, store *membership.Store) error {
	fs := store.FailSafe
	m.failSafeOf.CompareAndSwap(nil, &fs) // unless FailSafeFrom named another source
	sub := store.Subscribe(subscriptionEvents)
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub.C():
			m.apply(sub.Next())
		}
	}
}

// apply folds one batch of store changes into the gauges and counters.
func (m *Metrics) apply(b membership.Batch) {
	for _, name := range b.Removed {
		m.forgetCluster(name)
	}
	for _, snap := range b.Changed {
		if snap.Spec != nil {
			m.setProbes(snap.Name, [len(probes)]bool{snap.Spec.Liveness != nil, snap.Spec.Readiness != nil})
		}
		for status, n := range snap.Counts() {
			m.instances.WithLabelValues(snap.Name, status.String()).Set(float64(n))
		}
		held := make(map[membership.HoldCause]int, len(membership.HoldCauses))
		for _, mb := range snap.Members {
			if mb.Held != nil {
				held[mb.Held.Cause]++
			}
		}
		for _, cause := range membership.HoldCauses {
			m.held.WithLabelValues(snap.Name, string(cause)).Set(float64(held[cause]))
		}
	}
	for i := range b.Events {
		ev := &b.Events[i]
		if !isTransition(ev) {
			continue
		}
		m.transitions.WithLabelValues(ev.Cluster, ev.From.String(), ev.To.String()).Inc()
	}
	if b.Dropped > 0 {
		m.eventsDropped.Add(float64(b.Dropped))
	}
}

// isTransition reports whether an event changed an instance's published
// status: a transition, or an override that moved the status (an override
// event that carries From == To, such as a drain of an instance already
// draining, is not).
func isTransition(ev *membership.Event) bool {
	switch ev.Kind {
	case membership.EventTransition:
		return true
	case membership.EventOverride:
		return ev.From != ev.To
	}
	return false
}

// FailSafeFrom makes vigil_fail_safe_holding read the fail-safe's state
// from fs (by default, Run's store): with replicas, the local aggregator's
// store holds it.
func (m *Metrics) FailSafeFrom(fs func() membership.FailSafe) { m.failSafeOf.Store(&fs) }
