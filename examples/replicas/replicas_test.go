package replicas_test

import (
	"testing"

	"github.com/vigilhq/vigil/config"
)

// The example's three configs load, differ where replicas on one machine
// must (id, ports, state_dir), and agree on the rest.
func TestExampleConfigs(t *testing.T) {
	seen := map[string]string{}
	for _, r := range []string{"a", "b", "c"} {
		c, err := config.Load("vigil-" + r + ".yaml")
		if err != nil {
			t.Fatalf("vigil-%s.yaml: %v", r, err)
		}
		if !c.ReplicasOn() || c.Replicas.Quorum != "majority" || c.Consul.Deployment != "replicas-demo" {
			t.Errorf("vigil-%s.yaml: replicas %+v, consul %+v", r, c.Replicas, c.Consul)
		}
		if n := len(c.Clusters[0].FileInstances); n != 30 {
			t.Errorf("vigil-%s.yaml: %d instances, want 30", r, n)
		}
		for what, v := range map[string]string{"id": c.Replicas.ID, "admin": c.Admin.Listen, "xds": c.XDS.Listen, "state_dir": c.StateDir} {
			if other, ok := seen[what+v]; ok {
				t.Errorf("vigil-%s.yaml and %s share %s %s", r, other, what, v)
			}
			seen[what+v] = "vigil-" + r + ".yaml"
		}
	}
}
