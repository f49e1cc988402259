package consultest

import (
	"fmt"
	"os"
	"testing"
)

// StartForTest runs an agent for one test and kills it when the test
// ends; it skips the test, saying why, when no agent binary can be had.
func StartForTest(t testing.TB) *Agent {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Skipf("skipping: no Consul agent binary: %v", err)
	}
	a, err := Start(bin)
	if err != nil {
		t.Fatalf("start a Consul agent: %v", err)
	}
	t.Cleanup(a.Kill)
	return a
}

// Shared is one agent for all of a package's tests, run by its TestMain:
//
//	var shared consultest.Shared
//	func TestMain(m *testing.M) { os.Exit(shared.Run(m, "consul tests")) }
type Shared struct {
	agent   *Agent
	bin     string
	missing error // why there is no agent
}

// Run starts the shared agent when a binary can be had (otherwise the
// tests that need it skip), runs the package's tests and stops the agent.
// who names the package in what it prints.
func (s *Shared) Run(m *testing.M, who string) int {
	bin, err := Binary()
	if err != nil {
		s.missing = err
		fmt.Fprintf(os.Stderr, "%s: no Consul agent binary, agent tests will skip: %v\n", who, err)
		return m.Run()
	}
	s.bin = bin
	a, err := Start(bin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: cannot start the Consul agent: %v\n", who, err)
		return 1
	}
	defer a.Stop()
	s.agent = a
	return m.Run()
}

// Require returns the shared agent, or skips t saying why there is none.
func (s *Shared) Require(t testing.TB) *Agent {
	t.Helper()
	if s.agent == nil {
		t.Skipf("skipping: bin/consul is absent and could not be built: %v", s.missing)
	}
	return s.agent
}

// Bin is the agent binary, for tests that start agents of their own
// (e.g. one on the shared agent's ports after it stopped).
func (s *Shared) Bin() string { return s.bin }
