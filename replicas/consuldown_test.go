package replicas

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigilhq/vigil/consul/consultest"
	"github.com/vigilhq/vigil/internal/runtest"
	"github.com/vigilhq/vigil/membership"
)

// While Consul is down the replicas keep merging over their streams with
// the last known registry, and none is the writer; when Consul is back
// (empty, as a rebuilt agent would be) they register again and one takes
// the lock.
func TestConsulDownKeepsMerging(t *testing.T) {
	a := ownAgent(t)
	clusters := map[string]int{"web": 10}
	nodes := []*node{startNode(t, a, "a", clusters, nil), startNode(t, a, "b", clusters, nil), startNode(t, a, "c", clusters, nil)}
	meshed(t, 3*testTTL, nodes)
	runtest.Eventually(t, 2*testTTL, "one writer", func() error {
		if ws := writers(nodes); len(ws) != 1 {
			return fmt.Errorf("%d writers", len(ws))
		}
		return nil
	})
	ports := a.Ports
	a.Stop()
	down := time.Now()

	nodes[0].set("web", inst(2), notReady, "readiness: 503")
	nodes[1].set("web", inst(2), notReady, "readiness: 503")
	allStatus(t, converge, nodes, "web", inst(2), membership.StatusUnhealthy)
	runtest.Eventually(t, testTTL+2*time.Second, "no writer without Consul", func() error {
		if ws := writers(nodes); len(ws) != 0 {
			return fmt.Errorf("%s still writes", ws[0].id)
		}
		return nil
	})
	// Past session_ttl the streams still carry votes.
	nodes[2].set("web", inst(3), draining, "readiness: draining")
	allStatus(t, converge, nodes, "web", inst(3), membership.StatusDraining)
	t.Logf("merging over the streams %s after Consul went down", time.Since(down).Round(time.Millisecond))

	b, err := consultest.StartOn(shared.Bin(), ports)
	if err != nil {
		t.Fatalf("restart Consul: %v", err)
	}
	t.Cleanup(b.Stop)
	back := time.Now()
	runtest.Eventually(t, 3*testTTL+5*time.Second, "registered again with one writer", func() error {
		if ws := writers(nodes); len(ws) != 1 {
			return fmt.Errorf("%d writers", len(ws))
		}
		for _, n := range nodes {
			live := 0
			for _, info := range n.rep.Replicas() {
				if info.Live {
					live++
				}
			}
			if live != 3 {
				return fmt.Errorf("%s sees %d live replicas", n.id, live)
			}
		}
		return nil
	})
	t.Logf("registered again, one writer, %s after Consul came back", time.Since(back).Round(time.Millisecond))
	nodes[2].set("web", inst(3), healthy, "readiness: 200")
	allStatus(t, converge, nodes, "web", inst(3), membership.StatusHealthy)
}
