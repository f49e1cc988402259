package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigilhq/vigil/consul/consultest"
	"github.com/vigilhq/vigil/internal/runtest"
)

// outage is how long Consul stays down: a minute, as the issue says.
// With -short it is three session TTLs: past twice session_ttl every
// session has lapsed and nothing more changes in how replicas behave.
func outage() time.Duration {
	if testing.Short() {
		return 3 * sessionTTL
	}
	return time.Minute
}

// Issue 15, failure behaviour 7: Consul goes down (SIGKILL) with three
// replicas and comes back empty on the same ports. Meanwhile xDS keeps
// being served and updated from the replicas' own verdicts (a failure
// every replica sees reaches every EDS view); afterwards the catalog
// converges, and a drain made before the outage is neither lost by the
// replicas nor by Consul (put back into its KV).
func TestConsulDown(t *testing.T) {
	agent := consultest.StartForTest(t)
	s := newSetup(t, agent, startInstances(t, "127.0.0.1", 30))
	reps, eds, catalog := threeReplicas(t, s)
	drained, failed := s.insts.addrs[5], s.insts.addrs[12]
	reps[0].post("/api/v1/clusters/web/instances/"+drained+"/drain", `{"reason":"before the outage"}`)
	before := statuses(s.insts.except(5), healthy, drained, draining)
	agree(t, 10*time.Second, "the drain everywhere", before, eds, catalog)

	ports := agent.Ports
	agent.Kill()
	down := time.Now()
	for _, v := range eds {
		v.guard(before)
	}
	time.Sleep(sessionTTL) // every replica has lost its session by now
	for _, v := range eds {
		v.guard(nil)
	}
	noViolations(t, eds...)
	s.insts.fail(12, true)
	want := statuses(s.insts.except(5, 12), healthy, drained, draining, failed, unhealthy)
	took := agree(t, 5*time.Second, "a failure while Consul is down reaches every EDS view", want, eds, nil)
	t.Logf("failure published by all three %s after it began, Consul down for %s", took.Round(time.Millisecond), time.Since(down).Round(time.Millisecond))
	for _, v := range eds {
		v.guard(want)
	}
	time.Sleep(time.Until(down.Add(outage())))
	noViolations(t, eds...)
	t.Logf("Consul down for %s; the failure stayed published in every EDS view", time.Since(down).Round(time.Millisecond))

	bin, err := consultest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	back, err := consultest.StartOn(bin, ports)
	if err != nil {
		t.Fatalf("Consul again on the same ports: %v", err)
	}
	t.Cleanup(back.Kill)
	started := time.Now()
	took = agree(t, 2*sessionTTL+10*time.Second, "the catalog converges after Consul returns", want, eds, catalog)
	t.Logf("catalog converged %s after Consul came back", took.Round(time.Millisecond))
	runtest.Eventually(t, 10*time.Second, "the drain is in Consul's KV again", func() error {
		pairs, _, err := back.Client().KV().List("vigil/e2e/drains/", nil)
		if err != nil {
			return err
		}
		if len(pairs) != 1 {
			return fmt.Errorf("%d drains in KV, want 1", len(pairs))
		}
		return nil
	})
	w, _ := waitWriter(t, 2*sessionTTL+5*time.Second, reps...)
	t.Logf("%s writes the catalog again, %s after Consul came back", w.id, time.Since(started).Round(time.Millisecond))
	noViolations(t, eds...)
	// Undrain after the outage: the drain was not merely kept, it is live.
	reps[1].post("/api/v1/clusters/web/instances/"+drained+"/undrain", "")
	agree(t, 10*time.Second, "the undrain everywhere", statuses(s.insts.except(12), healthy, failed, unhealthy), eds, catalog)
}
