package xds

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/vigilhq/vigil/upstreams"
)

// routerFilterName is the well-known name of Envoy's router filter.
const routerFilterName = "envoy.filters.http.router"

// BuildListener returns the Listener a proxyless gRPC client resolves for
// xds:///<cluster>: named after the cluster, with an ApiListener whose
// HttpConnectionManager takes its routes over ADS (RDS, route config named
// after the cluster) and ends with the router filter.
func BuildListener(spec *upstreams.Cluster) *listenerv3.Listener {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: spec.Name,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    adsSource(),
			RouteConfigName: spec.Name,
		}},
		HttpFilters: []*hcmv3.HttpFilter{{
			Name:       routerFilterName,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})},
		}},
	}
	return &listenerv3.Listener{
		Name:        spec.Name,
		ApiListener: &listenerv3.ApiListener{ApiListener: mustAny(hcm)},
	}
}

// BuildRoute returns the RouteConfiguration named after the cluster: one
// virtual host for any authority whose single route sends every request
// to the cluster.
func BuildRoute(spec *upstreams.Cluster) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{
		Name: spec.Name,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    spec.Name,
			Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: ""}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: spec.Name},
				}},
			}},
		}},
	}
}

// mustAny packs a message built here; marshaling a well-formed message
// cannot fail, so a failure is a programming error. Deterministic
// marshaling keeps equal inputs byte-equal, which change detection needs.
func mustAny(m proto.Message) *anypb.Any {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		panic("xds: packing " + string(m.ProtoReflect().Descriptor().FullName()) + ": " + err.Error())
	}
	return a
}
