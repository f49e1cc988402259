package replicas

import (
	"testing"
	"time"

	"github.com/vigilhq/vigil/membership"
)

// At 10,000 instances and three replicas a steady fleet exchanges only
// heartbeats, and one transition costs under 1 KiB per peer.
func TestStreamBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 instances")
	}
	a := requireAgent(t)
	clusters := map[string]int{"web": 4000, "api": 3000, "db": 3000}
	dep := func(o *Options) { o.Deployment = "bytes" }
	nodes := []*node{startNode(t, a, "a", clusters, dep), startNode(t, a, "b", clusters, dep), startNode(t, a, "c", clusters, dep)}
	meshed(t, 6*testTTL, nodes)
	na := nodes[0]
	snapshot := na.rep.Stats().BytesSent
	t.Logf("snapshot of 10,000 members to 2 peers: %d bytes (%d per peer, %.0f per member)", snapshot, snapshot/2, float64(snapshot)/2/10000)

	// Steady: heartbeats only.
	before := make([]Stats, len(nodes))
	for i, n := range nodes {
		before[i] = n.rep.Stats()
	}
	const window = 3 * time.Second
	time.Sleep(window) // measuring a quiet period: nothing to poll for
	for i, n := range nodes {
		s := n.rep.Stats()
		data := (s.BytesSent - s.HeartbeatBytesSent) - (before[i].BytesSent - before[i].HeartbeatBytesSent)
		hb := s.HeartbeatBytesSent - before[i].HeartbeatBytesSent
		if data != 0 {
			t.Errorf("%s sent %d bytes besides heartbeats while the fleet was steady", n.id, data)
		}
		if hb == 0 {
			t.Errorf("%s sent no heartbeat in %s", n.id, window)
		}
		if i == 0 {
			t.Logf("steady state: %.1f bytes/s per peer (heartbeats every %s)", float64(hb)/2/window.Seconds(), testHeartbeat)
		}
	}

	// One transition.
	s0 := na.rep.Stats()
	na.set("web", inst(7), draining, "readiness: 503 draining, checks.queue=unavailable")
	allStatus(t, converge, nodes, "web", inst(7), membership.StatusDraining)
	s1 := na.rep.Stats()
	perPeer := ((s1.BytesSent - s1.HeartbeatBytesSent) - (s0.BytesSent - s0.HeartbeatBytesSent)) / 2
	t.Logf("one transition: %d bytes per peer", perPeer)
	if perPeer == 0 || perPeer >= 1024 {
		t.Errorf("one transition cost %d bytes per peer, want 1..1023", perPeer)
	}
	for _, n := range nodes[1:] {
		if r := n.rep.Stats().BytesReceived; r < snapshot/2 {
			t.Errorf("%s received %d bytes, less than a's snapshot", n.id, r)
		}
	}
}
