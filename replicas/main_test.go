package replicas

import (
	"fmt"
	"os"
	"testing"

	"github.com/vigilhq/vigil/consul/consultest"
)

// agent is the package's shared Consul agent; nil when none could be had,
// and then noAgent says why.
var (
	agent    *consultest.Agent
	agentBin string
	noAgent  error
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	bin, err := consultest.Binary()
	if err != nil {
		noAgent = err
		fmt.Fprintf(os.Stderr, "replicas tests: no Consul agent binary, agent tests will skip: %v\n", err)
		return m.Run()
	}
	agentBin = bin
	a, err := consultest.Start(bin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "replicas tests: cannot start the Consul agent: %v\n", err)
		return 1
	}
	defer a.Stop()
	agent = a
	return m.Run()
}

// requireAgent returns the shared agent or skips the test, saying why.
func requireAgent(t testing.TB) *consultest.Agent {
	t.Helper()
	if agent == nil {
		t.Skipf("skipping: bin/consul is absent and could not be built: %v", noAgent)
	}
	return agent
}

// ownAgent starts an agent for one test (one that stops it).
func ownAgent(t testing.TB) *consultest.Agent {
	t.Helper()
	requireAgent(t)
	a, err := consultest.Start(agentBin)
	if err != nil {
		t.Fatalf("start a Consul agent: %v", err)
	}
	t.Cleanup(a.Stop)
	return a
}
