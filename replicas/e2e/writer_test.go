package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigilhq/vigil/consul/consultest"
	"github.com/vigilhq/vigil/internal/runtest"
)

// others are reps without r.
func others(reps []*replica, r *replica) []*replica {
	var out []*replica
	for _, o := range reps {
		if o != r {
			out = append(out, o)
		}
	}
	return out
}

func viewsOf(reps []*replica, all []*replica, eds []*view) []*view {
	var out []*view
	for i, r := range all {
		for _, o := range reps {
			if o == r {
				out = append(out, eds[i])
			}
		}
	}
	return out
}

// waitWriter waits until one of reps says it writes the catalog.
func waitWriter(t *testing.T, within time.Duration, reps ...*replica) (*replica, time.Duration) {
	t.Helper()
	var w *replica
	took := runtest.Eventually(t, within, "a replica writes the catalog", func() error {
		if w = writer(reps...); w == nil {
			return fmt.Errorf("no writer among %d replicas", len(reps))
		}
		return nil
	})
	return w, took
}

// Issue 15, failure behaviour 2: SIGKILL the replica that writes the
// catalog. Another one writes within session_ttl + 5 s, no healthy
// instance ever leaves ?passing, and a drain and a failure made while no
// replica wrote are in the catalog afterwards.
func TestWriterKilled(t *testing.T) {
	agent := consultest.StartForTest(t)
	s := newSetup(t, agent, startInstances(t, "127.0.0.1", 30))
	reps, eds, catalog := threeReplicas(t, s)
	old, _ := waitWriter(t, 10*time.Second, reps...)
	rest := others(reps, old)
	drained, failed := s.insts.addrs[4], s.insts.addrs[7]
	steady := s.insts.except(4, 7)
	catalog.guard(statuses(s.insts.all(), healthy))
	for _, v := range viewsOf(rest, reps, eds) {
		v.guard(statuses(s.insts.all(), healthy))
	}

	old.kill()
	killed := time.Now()
	catalog.guard(statuses(steady, healthy))
	for _, v := range viewsOf(rest, reps, eds) {
		v.guard(statuses(steady, healthy))
	}
	rest[0].post("/api/v1/clusters/web/instances/"+drained+"/drain", `{"reason":"while nobody writes"}`)
	s.insts.fail(7, true)
	next, _ := waitWriter(t, sessionTTL+5*time.Second, rest...)
	t.Logf("%s took over from %s %s after SIGKILL", next.id, old.id, time.Since(killed).Round(time.Millisecond))
	if took := time.Since(killed); took > sessionTTL+5*time.Second {
		t.Errorf("new writer after %s, want within session_ttl + 5s", took)
	}
	want := statuses(steady, healthy, drained, draining, failed, unhealthy)
	agree(t, 10*time.Second, "the drain and the failure reach every live EDS view and the catalog", want, viewsOf(rest, reps, eds), catalog)
	noViolations(t, catalog)
	noViolations(t, viewsOf(rest, reps, eds)...)
}
