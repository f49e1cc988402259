package xds

import (
	"context"
	"errors"

	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	gcplog "github.com/envoyproxy/go-control-plane/pkg/log"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// unknownType is the mux key of every type URL vigil does not serve.
const unknownType = "unknown"

// caches holds one LinearCache per served type, shared by every node, and
// the mux that routes each watch to the cache of its type URL. Endpoints
// have their own cache so an assignment change wakes only the watches of
// that assignment; clusters, listeners and routes change only with config.
type caches struct {
	endpoints *cache.LinearCache
	clusters  *cache.LinearCache
	listeners *cache.LinearCache
	routes    *cache.LinearCache
	mux       *cache.MuxCache
}

func newCaches(versionPrefix string, logger gcplog.Logger) *caches {
	linear := func(typeURL string) *cache.LinearCache {
		return cache.NewLinearCache(typeURL, cache.WithVersionPrefix(versionPrefix), cache.WithLogger(logger))
	}
	c := &caches{
		endpoints: linear(resource.EndpointType),
		clusters:  linear(resource.ClusterType),
		listeners: linear(resource.ListenerType),
		routes:    linear(resource.RouteType),
	}
	hold := func(lc *cache.LinearCache) cache.Cache { return newHoldAfterNACK(lc, versionPrefix) }
	byType := map[string]cache.Cache{
		resource.EndpointType: hold(c.endpoints),
		resource.ClusterType:  noLegacyWildcardForGRPC{hold(c.clusters)},
		resource.ListenerType: noLegacyWildcardForGRPC{hold(c.listeners)},
		resource.RouteType:    hold(c.routes),
		unknownType:           silentCache{},
	}
	classify := func(typeURL string) string {
		if _, ok := byType[typeURL]; ok {
			return typeURL
		}
		return unknownType
	}
	c.mux = &cache.MuxCache{
		Classify:      func(r *cache.Request) string { return classify(r.GetTypeUrl()) },
		ClassifyDelta: func(r *cache.DeltaRequest) string { return classify(r.GetTypeUrl()) },
		Caches:        byType,
	}
	return c
}

// silentCache answers watches of types vigil does not serve with nothing,
// keeping the stream open (the mux would otherwise end the whole ADS
// stream, taking the client's clusters and endpoints with it).
type silentCache struct{}

func (silentCache) CreateWatch(*cache.Request, cache.Subscription, chan cache.Response) (func(), error) {
	return func() {}, nil
}

func (silentCache) CreateDeltaWatch(*cache.DeltaRequest, cache.Subscription, chan cache.DeltaResponse) (func(), error) {
	return func() {}, nil
}

func (silentCache) Fetch(context.Context, *cache.Request) (cache.Response, error) {
	return nil, errors.New("resource type not served")
}
