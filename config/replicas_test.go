package config_test

import (
	"os"
	"testing"
	"time"
)

func TestReplicasBlock(t *testing.T) {
	const consul = "consul: {address: 127.0.0.1:8500}\n"
	c := mustParse(t, consul+"replicas: {enabled: true}\n")
	host, _ := os.Hostname()
	r := c.Replicas
	if !c.ReplicasOn() || r.ID != host || r.Advertise != "127.0.0.1:8080" || r.SessionTTL != 10*time.Second || r.Quorum != "majority" {
		t.Errorf("replicas defaults: %+v (hostname %q)", *r, host)
	}
	c = mustParse(t, consul+"admin: {listen: 10.0.0.5:9000}\nreplicas:\n  enabled: true\n  id: vigil-a\n  session_ttl: 3s\n  quorum: any\n")
	if r := c.Replicas; r.ID != "vigil-a" || r.Advertise != "10.0.0.5:9000" || r.SessionTTL != 3*time.Second || r.Quorum != "any" {
		t.Errorf("replicas as written: %+v", *r)
	}
	if c := mustParse(t, "replicas: {enabled: false, quorum: nonsense}\n"); c.ReplicasOn() {
		t.Error("replicas with enabled: false is on")
	}
	if c := mustParse(t, oneCluster); c.ReplicasOn() || c.Replicas != nil {
		t.Error("no replicas block, yet replicas are on")
	}
	for _, tc := range []struct{ name, src, want string }{
		{"without consul", "replicas: {enabled: true}\n",
			"vigil.yaml:1: replicas: needs the top-level consul block: replicas find each other, share drains and take the catalog writer lock through Consul"},
		{"id charset", consul + "replicas: {enabled: true, id: a/b}\n",
			`vigil.yaml:2: replicas.id: "a/b" may only contain letters, digits, '.', '_' and '-'`},
		{"quorum", consul + "replicas:\n  enabled: true\n  quorum: most\n",
			`vigil.yaml:4: replicas.quorum: "most" is not one of majority, any, all`},
		{"session ttl", consul + "replicas:\n  enabled: true\n  session_ttl: 500ms\n",
			`vigil.yaml:4: replicas.session_ttl: must be at least 1s`},
		{"session ttl zero", consul + "replicas:\n  enabled: true\n  session_ttl: 0s\n",
			`vigil.yaml:4: replicas.session_ttl: must be at least 1s`},
		{"advertise", consul + "replicas:\n  enabled: true\n  advertise: nowhere\n",
			`vigil.yaml:4: replicas.advertise: "nowhere" is not host:port: the other replicas dial this address; set replicas.advertise`},
		{"advertise from a wildcard listen", consul + "admin: {listen: 0.0.0.0:8080}\nreplicas: {enabled: true}\n",
			`vigil.yaml:3: replicas.advertise: "0.0.0.0:8080" (taken from admin.listen) is not an address the other replicas can dial: set replicas.advertise to this host's address`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hasLine(t, problems(t, tc.src), tc.want)
		})
	}
}
