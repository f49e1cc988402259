package consul_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/consul"
	"github.com/vigilhq/vigil/consul/consultest"
	"github.com/vigilhq/vigil/internal/runtest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// An agent that stops while vigil has nothing to write: Healthy names
// Consul unavailable within a health interval and the breaker opens within
// seconds (before, both waited for the next write or the 60s resync). When
// an empty agent takes its place, the check wakes a full reconcile, which
// re-registers everything long before the resync.
func TestOutageIsNoticedWithNothingToWrite(t *testing.T) {
	first := ownAgent(t)
	spec := &upstreams.Cluster{Name: "quiet-web"}
	opts := consul.Options{
		Deployment:         "t-quiet",
		ResyncInterval:     time.Hour, // nothing but the health check may notice the outage
		HealthInterval:     time.Second,
		BreakerOpenTimeout: time.Second,
		RequestTimeout:     2 * time.Second,
	}
	f := newFixture(t, first.HTTPAddr, spec, []membership.Member{instance(27001, membership.StatusHealthy)}, opts)
	runtest.Eventually(t, 30*time.Second, "registered", func() error { return passingPorts(f.client, "quiet-web").are(27001) })
	runtest.Eventually(t, slack, "Healthy", func() error {
		if ok, detail := f.pub.Healthy(); !ok {
			return fmt.Errorf("Healthy() = false, %q", detail)
		}
		return nil
	})

	first.Kill()
	killed := time.Now()
	took := runtest.Eventually(t, opts.HealthInterval+slack, "Healthy names Consul unavailable", func() error {
		if ok, detail := f.pub.Healthy(); ok || !strings.Contains(detail, "unavailable") {
			return fmt.Errorf("Healthy() = %v, %q", ok, detail)
		}
		return nil
	})
	t.Logf("unavailable %s after the kill", took)
	runtest.Eventually(t, opts.HealthInterval+slack, "breaker opens", func() error {
		if !slices.Contains(f.metrics.breakerStates(), "open") {
			return fmt.Errorf("breaker states %v", f.metrics.breakerStates())
		}
		return nil
	})
	t.Logf("breaker open %s after the kill", time.Since(killed))
	if f.metrics.count("error") != 0 {
		t.Errorf("%d writes failed: the outage was noticed by a write, not by the check", f.metrics.count("error"))
	}

	second, err := consultest.StartOn(shared.Bin(), first.Ports)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(second.Stop)
	took = runtest.Eventually(t, opts.BreakerOpenTimeout+opts.HealthInterval+slack, "re-registered on the empty agent", func() error {
		return passingPorts(f.client, "quiet-web").are(27001)
	})
	t.Logf("re-registered %s after the new agent was up", took)
	runtest.Eventually(t, slack, "Healthy again", func() error {
		if ok, detail := f.pub.Healthy(); !ok {
			return fmt.Errorf("Healthy() = false, %q", detail)
		}
		return nil
	})
}
