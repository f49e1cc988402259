package e2e

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil/consul/consultest"
	"github.com/vigilhq/vigil/internal/runtest"
)

// Issue 15, failure behaviour 5: SIGSTOP the catalog writer for twice
// session_ttl, then SIGCONT. Meanwhile an instance fails and another is
// drained. The paused replica rejoins, never writes its stale view into
// the catalog (the failed instance never passes again, fenced), and its
// xDS converges to the others' view, the drain included.
func TestPausedWriterRejoins(t *testing.T) {
	agent := consultest.StartForTest(t)
	s := newSetup(t, agent, startInstances(t, "127.0.0.1", 30))
	reps, eds, catalog := threeReplicas(t, s)
	paused, _ := waitWriter(t, 10*time.Second, reps...)
	rest := others(reps, paused)
	failed, drained := s.insts.addrs[2], s.insts.addrs[9]
	steady := s.insts.except(2, 9)

	paused.signal(syscall.SIGSTOP)
	stopped := time.Now()
	catalog.guard(statuses(steady, healthy))
	s.insts.fail(2, true)
	rest[0].post("/api/v1/clusters/web/instances/"+drained+"/drain", `{"reason":"while a replica is paused"}`)
	want := statuses(steady, healthy, failed, unhealthy, drained, draining)
	agree(t, sessionTTL+10*time.Second, "the live replicas and the catalog show the failure and the drain", want, viewsOf(rest, reps, eds), catalog)
	// From here on the failed instance must never pass again: the paused
	// replica's view (it passing) is stale.
	catalog.guard(want)
	time.Sleep(time.Until(stopped.Add(2 * sessionTTL)))
	paused.signal(syscall.SIGCONT)
	resumed := time.Now()

	pausedEDS := viewsOf([]*replica{paused}, reps, eds)
	took := agree(t, sessionTTL+10*time.Second, "the resumed replica's xDS converges", want, pausedEDS, nil)
	t.Logf("%s's EDS converged %s after SIGCONT", paused.id, took.Round(time.Millisecond))
	runtest.Eventually(t, sessionTTL+10*time.Second, "the resumed replica votes again everywhere", func() error {
		for _, r := range reps {
			v, ok := r.replicasView()
			if !ok {
				return fmt.Errorf("%s does not answer", r.id)
			}
			for _, p := range v.Replicas {
				if !p.Live || !p.Voting {
					return fmt.Errorf("%s sees %s live %v voting %v", r.id, p.ID, p.Live, p.Voting)
				}
			}
		}
		return nil
	})
	// Leave it time to write, were it to.
	time.Sleep(max(0, time.Until(resumed.Add(2*time.Second))))
	noViolations(t, catalog)
	if err := catalog.is(catalogWant(want)); err != nil {
		t.Error(err)
	}
}
