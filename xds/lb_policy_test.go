package xds_test

import (
	"slices"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	ringhashv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/ring_hash/v3"
	wrrlocalityv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/wrr_locality/v3"

	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
	"github.com/vigilhq/vigil/xds"
)

// typedPolicies is what each client implements in load_balancing_policy,
// by the last part of the typed config's type URL, as read in their
// sources: Envoy's load_balancing_policies extensions, grpc-go's
// xdslbregistry converters, grpc-java's LoadBalancerConfigFactory,
// grpc-core's XdsLbPolicyRegistry and grpc-js-xds's lb-policy-registry.
var typedPolicies = map[string][]string{
	"envoy":     {"RoundRobin", "LeastRequest", "Random", "RingHash", "Maglev"},
	"grpc-go":   {"RoundRobin", "LeastRequest", "RingHash", "WrrLocality", "ClientSideWeightedRoundRobin", "PickFirst"},
	"grpc-java": {"RoundRobin", "LeastRequest", "RingHash", "WrrLocality", "ClientSideWeightedRoundRobin"},
	"grpc-core": {"RoundRobin", "RingHash", "WrrLocality", "ClientSideWeightedRoundRobin", "PickFirst"},
	"grpc-js":   {"RoundRobin", "RingHash", "WrrLocality", "ClientSideWeightedRoundRobin", "PickFirst"},
}

// pick is what a client makes of p: the first entry it implements (A52),
// nested for wrr_locality; "" when none.
func pick(t *testing.T, p *clusterv3.LoadBalancingPolicy, client string) string {
	t.Helper()
	implements := typedPolicies[client]
	for _, e := range p.GetPolicies() {
		typed := e.GetTypedExtensionConfig().GetTypedConfig()
		name := typed.GetTypeUrl()[strings.LastIndex(typed.GetTypeUrl(), ".")+1:]
		if !slices.Contains(implements, name) {
			continue
		}
		switch name {
		case "WrrLocality":
			w := &wrrlocalityv3.WrrLocality{}
			if err := typed.UnmarshalTo(w); err != nil {
				t.Fatal(err)
			}
			return name + "(" + pick(t, w.GetEndpointPickingPolicy(), client) + ")"
		case "RingHash":
			r := &ringhashv3.RingHash{}
			if err := typed.UnmarshalTo(r); err != nil {
				t.Fatal(err)
			}
			// gRPC rejects any other, even the default (Envoy's XX_HASH).
			if strings.HasPrefix(client, "grpc") && r.GetHashFunction() != ringhashv3.RingHash_XX_HASH {
				return "rejected: hash function " + r.GetHashFunction().String()
			}
		}
		return name
	}
	return ""
}

// Every client gets the configured policy when it implements it, and
// round robin per locality otherwise: never a Cluster it must reject.
func TestPublishedLBPolicyPerClient(t *testing.T) {
	const fallback = "WrrLocality(RoundRobin)"
	want := map[string]map[string]string{
		"LEAST_REQUEST": {"envoy": "LeastRequest", "grpc-go": "LeastRequest", "grpc-java": "LeastRequest",
			"grpc-core": fallback, "grpc-js": fallback},
		"RING_HASH": {"envoy": "RingHash", "grpc-go": "RingHash", "grpc-java": "RingHash",
			"grpc-core": "RingHash", "grpc-js": "RingHash"},
		"RANDOM": {"envoy": "Random", "grpc-go": fallback, "grpc-java": fallback, "grpc-core": fallback, "grpc-js": fallback},
		"MAGLEV": {"envoy": "Maglev", "grpc-go": fallback, "grpc-java": fallback, "grpc-core": fallback, "grpc-js": fallback},
	}
	for _, name := range config.LBPolicyNames() {
		c := xds.BuildCluster(&upstreams.Cluster{Name: "api", XDS: upstreams.XDSOptions{LBPolicy: name}})
		if err := xds.Validate(c); err != nil {
			t.Errorf("%s: the Cluster does not validate against Envoy's protos: %v", name, err)
		}
		// The only lb_policy every gRPC client accepts; the others read
		// load_balancing_policy instead.
		if c.GetLbPolicy() != clusterv3.Cluster_ROUND_ROBIN {
			t.Errorf("%s: lb_policy %s, want ROUND_ROBIN", name, c.GetLbPolicy())
		}
		if name == "ROUND_ROBIN" {
			if c.GetLoadBalancingPolicy() != nil {
				t.Errorf("ROUND_ROBIN: load_balancing_policy %v, want none", c.GetLoadBalancingPolicy())
			}
			continue
		}
		for client := range typedPolicies {
			if got := pick(t, c.GetLoadBalancingPolicy(), client); got != want[name][client] {
				t.Errorf("%s read by %s: %q, want %q", name, client, got, want[name][client])
			}
		}
	}
	if c := xds.BuildCluster(&upstreams.Cluster{Name: "api", XDS: upstreams.XDSOptions{LBPolicy: "BOGUS"}}); c.GetLbPolicy() != clusterv3.Cluster_ROUND_ROBIN || c.GetLoadBalancingPolicy() != nil {
		t.Errorf("an unknown lb_policy published %s / %v, want plain ROUND_ROBIN", c.GetLbPolicy(), c.GetLoadBalancingPolicy())
	}
}

// The lb_policy names config accepts are exactly those xds publishes.
func TestConfigAndXDSAgreeOnLBPolicies(t *testing.T) {
	cfg, pub := config.LBPolicyNames(), xds.LBPolicyNames()
	slices.Sort(cfg)
	slices.Sort(pub)
	if !slices.Equal(cfg, pub) {
		t.Errorf("config accepts lb_policy %v, xds publishes %v", cfg, pub)
	}
}

// A real gRPC client (grpc-go's xDS resolver) accepts the Cluster of every
// lb_policy, routes over the healthy endpoints and leaves a draining one.
func TestProxylessGRPCClientRoutesWithEveryLBPolicy(t *testing.T) {
	b1, b2 := startBackend(t), startBackend(t)
	for _, name := range config.LBPolicyNames() {
		t.Run(name, func(t *testing.T) {
			store := membership.NewStore(100)
			spec := &upstreams.Cluster{Name: "echo", XDS: upstreams.XDSOptions{LBPolicy: name}}
			store.PutCluster(spec, []membership.Member{
				member("b1", b1, membership.StatusHealthy),
				member("b2", b2, membership.StatusHealthy),
			}, nil)
			srv, buf, _ := startObservedServer(t, store)
			c := newXDSClient(t, srv.addr, "echo")
			c.awaitSet("both healthy", b1, b2)
			setStatus(t, store, "echo", "b2", membership.StatusDraining)
			c.awaitSet("b2 draining", b1)
			c.never("b2 draining", b2, 20)
			if recs := nackLogs(buf); len(recs) != 0 {
				t.Errorf("the client rejected a response: %v", recs)
			}
		})
	}
}
