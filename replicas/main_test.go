package replicas

import (
	"os"
	"testing"

	"github.com/vigilhq/vigil/consul/consultest"
)

// shared is the package's Consul agent.
var shared consultest.Shared

func TestMain(m *testing.M) { os.Exit(shared.Run(m, "replicas tests")) }

// requireAgent returns the shared agent or skips the test, saying why.
func requireAgent(t testing.TB) *consultest.Agent { return shared.Require(t) }

// ownAgent starts an agent for one test (one that stops it).
func ownAgent(t testing.TB) *consultest.Agent {
	t.Helper()
	requireAgent(t)
	a, err := consultest.Start(shared.Bin())
	if err != nil {
		t.Fatalf("start a Consul agent: %v", err)
	}
	t.Cleanup(a.Stop)
	return a
}
