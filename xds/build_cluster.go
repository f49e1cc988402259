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

// adsSource is a config source that says "over the same ADS stream".
func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

// BuildCluster returns the Cluster resource of a vigil cluster: type EDS,
// endpoints over ADS under the cluster's EDS service name, with the
// operator's lb_policy (see publishLBPolicy), connect_timeout and
// healthy_panic_threshold. An unknown lb_policy falls back to ROUND_ROBIN
// (config validation rejects it before it gets here).
func BuildCluster(spec *upstreams.Cluster) *clusterv3.Cluster {
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
	}
	publishLBPolicy(c, spec.XDS.LBPolicy)
	if p := spec.XDS.HealthyPanicThreshold; p != nil {
		c.CommonLbConfig = &clusterv3.Cluster_CommonLbConfig{
			HealthyPanicThreshold: &typev3.Percent{Value: *p},
		}
	}
	return c
}
