package replicas

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/runtest"
)

// A replica is not ready until every live peer's snapshot is merged, and
// says whose it waits for; past ReadyWait it is ready anyway.
func TestReadyWaitsForPeers(t *testing.T) {
	a := requireAgent(t)
	clusters := map[string]int{"web": 3}
	dep := func(o *Options) { o.Deployment = "ready" }
	na := startNode(t, a, "a", clusters, dep)
	runtest.Eventually(t, 2*testTTL, "a alone is ready", func() error {
		if ok, why := na.rep.Ready(); !ok {
			return fmt.Errorf("%s", why)
		}
		return nil
	})
	na.stall.Store(true) // a's stream sends nothing to whoever dials it
	nb := startNode(t, a, "b", clusters, dep)
	runtest.Eventually(t, 2*testTTL, "b waits for a", func() error {
		ok, why := nb.rep.Ready()
		if ok || !strings.Contains(why, "verdicts of a") {
			return fmt.Errorf("ready %v: %q", ok, why)
		}
		return nil
	})
	select {
	case <-nb.rep.ReadyC():
		t.Fatal("ReadyC closed while b still waits for a")
	default:
	}
	na.stall.Store(false)
	took := runtest.Eventually(t, 3*testTTL, "b ready once a's snapshot arrived", func() error {
		if ok, why := nb.rep.Ready(); !ok {
			return fmt.Errorf("%s", why)
		}
		return nil
	})
	t.Logf("b ready %s after a's stream flowed", took)
	select {
	case <-nb.rep.ReadyC():
	case <-time.After(time.Second):
		t.Fatal("b is ready but ReadyC is not closed")
	}

	na.stall.Store(true)
	start := time.Now()
	nc := startNode(t, a, "c", clusters, func(o *Options) { dep(o); o.ReadyWait = 2 * time.Second })
	runtest.Eventually(t, 5*time.Second, "c ready after its bounded wait", func() error {
		if ok, why := nc.rep.Ready(); !ok {
			return fmt.Errorf("%s", why)
		}
		return nil
	})
	if waited := time.Since(start); waited < 2*time.Second {
		t.Errorf("c was ready after %s without a's snapshot, before its 2s wait", waited)
	}
}
