package consul_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/consul"
	"github.com/vigilhq/vigil/consul/consultest"
	"github.com/vigilhq/vigil/internal/runtest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// Killing Consul and starting an empty one in its place: vigil reports
// Consul unavailable, its breaker opens, and once the new agent answers it
// re-registers everything, including a change made during the outage,
// within one resync.
func TestConsulRestartReregistersEverything(t *testing.T) {
	first := ownAgent(t)

	spec := &upstreams.Cluster{Name: "restart-web"}
	members := []membership.Member{
		instance(26001, membership.StatusHealthy),
		instance(26002, membership.StatusHealthy),
		instance(26003, membership.StatusHealthy),
	}
	opts := consul.Options{
		Deployment:         "t-restart",
		BatchWindow:        100 * time.Millisecond,
		ResyncInterval:     time.Second,
		BreakerOpenTimeout: 500 * time.Millisecond,
		RequestTimeout:     2 * time.Second,
	}
	f := newFixture(t, first.HTTPAddr, spec, members, opts)
	runtest.Eventually(t, 30*time.Second, "registered on the first agent", func() error {
		return passingPorts(f.client, "restart-web").are(26001, 26002, 26003)
	})

	first.Kill()
	// A change while Consul is down must not be lost.
	f.set(26002, membership.StatusDraining, "during outage")
	runtest.Eventually(t, opts.ResyncInterval+slack, "Healthy names Consul unavailable", func() error {
		ok, detail := f.pub.Healthy()
		if ok || !strings.Contains(detail, "unavailable") {
			return fmt.Errorf("Healthy() = %v, %q", ok, detail)
		}
		return nil
	})
	runtest.Eventually(t, 10*time.Second+slack, "breaker opens", func() error {
		if !slices.Contains(f.metrics.breakerStates(), "open") {
			return fmt.Errorf("breaker states %v", f.metrics.breakerStates())
		}
		return nil
	})

	second, err := consultest.StartOn(shared.Bin(), first.Ports)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(second.Stop)
	took := runtest.Eventually(t, opts.ResyncInterval+opts.BreakerOpenTimeout+slack, "everything re-registered on the new agent", func() error {
		if err := allPorts(f.client, "restart-web").are(26001, 26002, 26003); err != nil {
			return err
		}
		if err := passingPorts(f.client, "restart-web").are(26001, 26003); err != nil {
			return err
		}
		c, err := vigilCheck(f.client, "vigil-t-restart", "restart-web", 26002)
		if err != nil {
			return err
		}
		if c.Status != consulapi.HealthCritical || c.Output != "draining: during outage" {
			return fmt.Errorf("drained check = %s %q", c.Status, c.Output)
		}
		return nil
	})
	t.Logf("re-registered %s after the new agent was up", took)
	runtest.Eventually(t, slack, "Healthy again", func() error {
		if ok, detail := f.pub.Healthy(); !ok {
			return fmt.Errorf("Healthy() = false, %q", detail)
		}
		return nil
	})
	states := f.metrics.breakerStates()
	if !isSubsequence([]string{"closed", "open", "half-open", "closed"}, states) {
		t.Errorf("breaker states %v: want it to open and close again", states)
	}
	if f.metrics.count("error") == 0 {
		t.Errorf("no failed writes counted during the outage")
	}
}

func isSubsequence(want, got []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}
