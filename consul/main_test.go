package consul_test

import (
	"os"
	"testing"

	"github.com/vigilhq/vigil/consul/consultest"
)

// shared is the package's Consul agent.
var shared consultest.Shared

func TestMain(m *testing.M) { os.Exit(shared.Run(m, "consul tests")) }

// requireAgent returns the shared agent or skips the test, saying why.
func requireAgent(t *testing.T) *consultest.Agent { return shared.Require(t) }
