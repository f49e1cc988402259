package xds

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	leastrequestv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/least_request/v3"
	maglevv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/maglev/v3"
	randomv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/random/v3"
	ringhashv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/ring_hash/v3"
	roundrobinv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/round_robin/v3"
	wrrlocalityv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/wrr_locality/v3"
	"google.golang.org/protobuf/proto"
)

// lbPolicy is how one configured lb_policy is published. Every client
// accepts lb_policy ROUND_ROBIN, but a gRPC client NACKs a Cluster whose
// lb_policy it does not implement: grpc-core (C++, Python, Ruby, PHP, ...)
// and grpc-js take only ROUND_ROBIN and RING_HASH there, grpc-go and
// grpc-java also LEAST_REQUEST. So any policy other than round robin is
// published as load_balancing_policy: a list of typed policies from which
// each client takes the first it implements. The list is the configured
// policy (Envoy implements every one vigil accepts), then round robin per
// locality (wrr_locality over round_robin: what gRPC makes of lb_policy
// ROUND_ROBIN, and implemented by every gRPC client that reads
// load_balancing_policy). Clients that read load_balancing_policy ignore
// lb_policy, which stays ROUND_ROBIN for those that do not.
type lbPolicy struct {
	name  string        // Envoy's extension name
	typed proto.Message // nil: lb_policy ROUND_ROBIN alone
}

// lbPolicies maps the names accepted in config (upper case) to how they
// are published.
var lbPolicies = map[string]lbPolicy{
	"ROUND_ROBIN":   {},
	"LEAST_REQUEST": {"envoy.load_balancing_policies.least_request", &leastrequestv3.LeastRequest{}},
	"RANDOM":        {"envoy.load_balancing_policies.random", &randomv3.Random{}},
	"RING_HASH": {"envoy.load_balancing_policies.ring_hash",
		// gRPC clients accept only XX_HASH, and not the proto's default value
		// (which Envoy reads as XX_HASH too).
		&ringhashv3.RingHash{HashFunction: ringhashv3.RingHash_XX_HASH}},
	"MAGLEV": {"envoy.load_balancing_policies.maglev", &maglevv3.Maglev{}},
}

// LBPolicyNames lists the lb_policy names BuildCluster publishes.
func LBPolicyNames() []string {
	names := make([]string, 0, len(lbPolicies))
	for n := range lbPolicies {
		names = append(names, n)
	}
	return names
}

// publishLBPolicy sets c's lb_policy and load_balancing_policy for the
// configured name ("" or unknown: ROUND_ROBIN).
func publishLBPolicy(c *clusterv3.Cluster, name string) {
	c.LbPolicy = clusterv3.Cluster_ROUND_ROBIN
	p := lbPolicies[name]
	if p.typed == nil {
		return
	}
	c.LoadBalancingPolicy = &clusterv3.LoadBalancingPolicy{Policies: []*clusterv3.LoadBalancingPolicy_Policy{
		typedPolicy(p.name, p.typed),
		typedPolicy("envoy.load_balancing_policies.wrr_locality", &wrrlocalityv3.WrrLocality{
			EndpointPickingPolicy: &clusterv3.LoadBalancingPolicy{Policies: []*clusterv3.LoadBalancingPolicy_Policy{
				typedPolicy("envoy.load_balancing_policies.round_robin", &roundrobinv3.RoundRobin{}),
			}},
		}),
	}}
}

func typedPolicy(name string, m proto.Message) *clusterv3.LoadBalancingPolicy_Policy {
	return &clusterv3.LoadBalancingPolicy_Policy{TypedExtensionConfig: &corev3.TypedExtensionConfig{
		Name: name, TypedConfig: mustAny(m),
	}}
}
