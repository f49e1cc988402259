package xds

import (
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/vigilhq/vigil/upstreams"
)

// DefaultConnectTimeout is a cluster's connect_timeout when none is set.
const DefaultConnectTimeout = time.Second

// lbPolicies maps the names accepted in config to Envoy's values. gRPC
// clients accept ROUND_ROBIN, LEAST_REQUEST and RING_HASH only.
var lbPolicies = map[string]clusterv3.Cluster_LbPolicy{
	"":              clusterv3.Cluster_ROUND_ROBIN,
	"ROUND_ROBIN":   clusterv3.Cluster_ROUND_ROBIN,
	"LEAST_REQUEST": clusterv3.Cluster_LEAST_REQUEST,
	"RANDOM":        clusterv3.Cluster_RANDOM,
	"RING_HASH":     clusterv3.Cluster_RING_HASH,
	"MAGLEV":        clusterv3.Cluster_MAGLEV,
}

// LBPolicy returns the Envoy lb_policy for a configured name (empty:
// ROUND_ROBIN) and whether the name is known.
func LBPolicy(name string) (clusterv3.Cluster_LbPolicy, bool) {
	p, ok := lbPolicies[name]
	return p, ok
}

// adsSource is a config source that says "over the same ADS stream".
func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

// BuildCluster returns the Cluster resource of a vigil cluster: type EDS,
// endpoints over ADS under the cluster's EDS service name, with the
// operator's lb_policy, connect_timeout and healthy_panic_threshold. An
// unknown lb_policy falls back to ROUND_ROBIN (config validation rejects it
// before it gets here).
func BuildCluster(spec *upstreams.Cluster) *clusterv3.Cluster {
	policy, ok := LBPolicy(spec.XDS.LBPolicy)
	if !ok {
		policy = clusterv3.Cluster_ROUND_ROBIN
	}
	timeout := spec.XDS.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	c := &clusterv3.Cluster{
		Name:                 spec.Name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{
			EdsConfig:   adsSource(),
			ServiceName: spec.EDSName(),
		},
		ConnectTimeout: durationpb.New(timeout),
		LbPolicy:       policy,
	}
	if p := spec.XDS.HealthyPanicThreshold; p != nil {
		c.CommonLbConfig = &clusterv3.Cluster_CommonLbConfig{
			HealthyPanicThreshold: &typev3.Percent{Value: *p},
		}
	}
	return c
}
