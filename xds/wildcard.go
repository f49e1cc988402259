package xds

import (
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// noLegacyWildcardForGRPC turns legacy wildcard off for gRPC clients on the
// two types where Envoy still needs it (its bootstrap CDS and LDS requests
// name no resource). Under legacy wildcard an empty first request means
// "everything"; a gRPC client never means that, so for it an empty request
// subscribes to nothing. Explicit "*" is honoured for everyone. Types other
// than CDS and LDS have legacy wildcard off server-wide. Delta passes
// through: gRPC clients speak state of the world.
type noLegacyWildcardForGRPC struct{ cache.Cache }

func (c noLegacyWildcardForGRPC) CreateWatch(req *cache.Request, sub cache.Subscription, out chan cache.Response) (func(), error) {
	if isGRPCClient(req.GetNode()) && sub.IsWildcard() && !slices.Contains(req.GetResourceNames(), "*") {
		return func() {}, nil
	}
	return c.Cache.CreateWatch(req, sub, out)
}

// isGRPCClient recognises gRPC's xDS clients by the user agent every gRPC
// implementation sets ("gRPC Go", "gRPC Java", "gRPC C-core", ...).
func isGRPCClient(n *corev3.Node) bool {
	return strings.HasPrefix(n.GetUserAgentName(), "gRPC")
}
