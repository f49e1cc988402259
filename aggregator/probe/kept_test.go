package probe

import (
	"testing"

	"github.com/vigilhq/vigil/upstreams"
)

func TestKeptConnections(t *testing.T) {
	insts := []upstreams.Instance{{ID: "a", Address: "10.0.0.1:80"}, {ID: "b", Address: "10.0.0.2:80"}}
	http := func(port int) *upstreams.Probe {
		return &upstreams.Probe{Kind: upstreams.KindHTTP, Scheme: "http", Path: "/", Port: port}
	}
	for _, tc := range []struct {
		name        string
		live, ready *upstreams.Probe
		want        int
	}{
		{"both on one address", http(9090), http(9090), 2},
		{"two addresses", http(9090), http(9091), 4},
		{"readiness only", nil, http(0), 2},
		{"tcp keeps none", &upstreams.Probe{Kind: upstreams.KindTCP}, &upstreams.Probe{Kind: upstreams.KindTCP}, 0},
		{"tcp and http", &upstreams.Probe{Kind: upstreams.KindTCP}, http(0), 2},
		{"grpc and http", &upstreams.Probe{Kind: upstreams.KindGRPC}, http(0), 4},
		{"https and http on one port", &upstreams.Probe{Kind: upstreams.KindHTTP, Scheme: "https"}, http(0), 4},
	} {
		got := KeptConnections([]upstreams.Cluster{{Name: "c", Liveness: tc.live, Readiness: tc.ready, Instances: insts}})
		if got != tc.want {
			t.Errorf("%s: %d kept connections, want %d", tc.name, got, tc.want)
		}
	}
	if got := KeptConnections(nil); got != 0 {
		t.Errorf("no clusters: %d", got)
	}
}
