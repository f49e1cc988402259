package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigilhq/vigil/consul/consultest"
	"github.com/vigilhq/vigil/internal/runtest"
)

// Issue 15, failure behaviour 6: restart all three replicas one at a
// time (SIGTERM, start again on the same ports and state_dir, wait until
// it is ready): no healthy instance changes status in any EDS view, the
// restarted replica's included once its clients reconnect, or in Consul.
func TestRollingRestart(t *testing.T) {
	agent := consultest.StartForTest(t)
	s := newSetup(t, agent, startInstances(t, "127.0.0.1", 30))
	reps, eds, catalog := threeReplicas(t, s)
	all := statuses(s.insts.all(), healthy)
	for _, v := range append(eds, catalog) {
		v.guard(all)
	}
	for _, r := range reps {
		r.stop()
		r.start()
		took := runtest.Eventually(t, 2*sessionTTL+slack+5*time.Second, r.id+" ready again", func() error {
			if !r.ready() {
				return fmt.Errorf("%s not ready", r.id)
			}
			return nil
		})
		t.Logf("%s ready %s after its restart", r.id, took.Round(time.Millisecond))
		agree(t, 10*time.Second, "every view still shows every instance healthy", all, eds, catalog)
	}
	noViolations(t, append(eds, catalog)...)
}
