package e2e

import (
	"testing"
	"time"

	"github.com/vigilhq/vigil/consul/consultest"
)

// threeReplicas starts replicas a, b and c over n instances, waits until
// every EDS view and the catalog show them all healthy, and returns the
// replicas, their EDS views and the catalog's view.
func threeReplicas(t *testing.T, s *setup) ([]*replica, []*view, *view) {
	t.Helper()
	var reps []*replica
	var eds []*view
	for _, id := range []string{"a", "b", "c"} {
		r := s.startReplica(id)
		reps = append(reps, r)
		eds = append(eds, watchEDS(t, "eds-"+id, r.xds))
	}
	catalog := watchCatalog(t, s.agent.HTTPAddr)
	agree(t, 30*time.Second, "three replicas publish every instance healthy", statuses(s.insts.all(), healthy), eds, catalog)
	return reps, eds, catalog
}

// Issue 15, failure behaviours 1 and 4: three replicas over 32 instances;
// after a change every EDS view and the catalog agree within interval +
// 500 ms of the first one showing it; a failure that every replica sees
// is published by all within a single vigil's detection time + 500 ms
// (measured here, beside them, on the same instances).
func TestReplicasAgreeAndDetectLikeOneVigil(t *testing.T) {
	agent := consultest.StartForTest(t)
	s := newSetup(t, agent, startInstances(t, "127.0.0.1", 32))
	_, eds, catalog := threeReplicas(t, s)
	one := s.startReplica("single", single())
	oneEDS := watchEDS(t, "eds-single", one.xds)
	agree(t, 10*time.Second, "the single vigil publishes every instance healthy", statuses(s.insts.all(), healthy), []*view{oneEDS}, nil)

	spread := func(what string, addrs []string, st string, since time.Time, views []*view) (first, last time.Duration) {
		t.Helper()
		first = time.Hour
		for _, v := range views {
			for _, a := range addrs {
				at := v.reached(a, st, since)
				if at.IsZero() {
					t.Fatalf("%s: %s never showed %s as %s", what, v.name, a, st)
				}
				first, last = min(first, at.Sub(since)), max(last, at.Sub(since))
			}
		}
		return first, last
	}
	failed := []int{3, 11, 29}
	var addrs []string
	for _, i := range failed {
		addrs = append(addrs, s.insts.addrs[i])
	}
	for round, st := range []string{unhealthy, healthy} {
		start := time.Now()
		for _, i := range failed {
			s.insts.fail(i, st == unhealthy)
		}
		want := statuses(s.insts.all(), healthy)
		for _, a := range addrs {
			want[a] = st
		}
		agree(t, 10*time.Second, "every view shows the change", want, append(eds, oneEDS), catalog)
		views := append(append([]*view{}, eds...), catalog)
		first, last := spread("replicas", addrs, st, start, views)
		_, single := spread("single vigil", addrs, st, start, []*view{oneEDS})
		t.Logf("round %d (%s): single vigil published after %s; replicas' EDS and the catalog between %s and %s",
			round, st, single.Round(time.Millisecond), first.Round(time.Millisecond), last.Round(time.Millisecond))
		if d := last - first; d > interval+500*time.Millisecond {
			t.Errorf("round %d: the views agreed %s after the first showed the change, want within interval + 500ms (%s)",
				round, d, interval+500*time.Millisecond)
		}
		if st == unhealthy && last > single+500*time.Millisecond {
			t.Errorf("a failure every replica sees was published by all after %s, the single vigil's after %s: more than 500ms later",
				last, single)
		}
	}
}
