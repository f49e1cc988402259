package replicas

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/runtest"
	"github.com/vigilhq/vigil/membership"
)

// A peer whose stream stops sending (its handler blocks; its session is
// fine) is dropped after three heartbeats, stops voting session_ttl after
// it was last heard, and votes again once its stream flows.
func TestStalledStreamStopsVoting(t *testing.T) {
	a := requireAgent(t)
	clusters := map[string]int{"web": 5}
	dep := func(o *Options) { o.Deployment = "stall" }
	nodes := []*node{startNode(t, a, "a", clusters, dep), startNode(t, a, "b", clusters, dep), startNode(t, a, "c", clusters, dep)}
	na, nb, nc := nodes[0], nodes[1], nodes[2]
	meshed(t, 3*testTTL, nodes)
	nc.set("web", inst(4), draining, "readiness: draining")
	allStatus(t, converge, nodes, "web", inst(4), membership.StatusDraining)

	nc.stall.Store(true)
	stalled := time.Now()
	runtest.Eventually(t, 3*testHeartbeat*3, "the stall detected", func() error {
		for _, n := range []*node{na, nb} {
			for _, info := range n.rep.Replicas() {
				if info.ID == "c" && (info.Connected || !strings.Contains(info.Error, "stalled")) {
					return fmt.Errorf("%s: %+v", n.id, info)
				}
			}
		}
		return nil
	})
	t.Logf("stall detected after %s (heartbeat %s)", time.Since(stalled).Round(time.Millisecond), testHeartbeat)
	took := allStatus(t, testTTL+2*time.Second, []*node{na, nb}, "web", inst(4), membership.StatusHealthy)
	t.Logf("the stalled peer's vote dropped %s after the stall (session_ttl %s)", took, testTTL)
	for _, info := range na.rep.Replicas() {
		if info.ID == "c" && (!info.Live || info.Voting) {
			t.Errorf("c should be live (its session is fine) and not voting: %+v", info)
		}
	}
	if got := nc.status("web", inst(4)); got != membership.StatusDraining {
		t.Errorf("c itself publishes web/4 %s, want DRAINING (its own drain vote)", got)
	}

	nc.stall.Store(false)
	took = allStatus(t, 10*time.Second, nodes, "web", inst(4), membership.StatusDraining)
	t.Logf("the peer votes again %s after its stream flows", took)
}
