package xds

import (
	"errors"
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// published is what the caches hold for one vigil cluster.
type published struct {
	spec     *upstreams.Cluster // the spec the resources below were built from
	cla      *endpointv3.ClusterLoadAssignment
	memo     endpointMemo // the endpoints of cla, by member ID
	cluster  *clusterv3.Cluster
	listener *listenerv3.Listener        // nil without gRPC listeners
	route    *routev3.RouteConfiguration // nil without gRPC listeners
}

// typeChange collects one type's updates of a batch.
type typeChange struct {
	upsert map[string]types.Resource
	remove []string
}

func (t *typeChange) put(name string, r types.Resource) {
	if t.upsert == nil {
		t.upsert = make(map[string]types.Resource)
	}
	t.upsert[name] = r
}

// publisher turns store batches into cache updates. It is driven by one
// goroutine (Server.Run) and is not safe for concurrent use.
type publisher struct {
	caches        *caches
	grpcListeners bool
	state         map[string]*published // by vigil cluster name
}

func newPublisher(c *caches, grpcListeners bool) *publisher {
	return &publisher{caches: c, grpcListeners: grpcListeners, state: make(map[string]*published)}
}

// applyResult counts the resources a batch actually changed.
type applyResult struct {
	Endpoints, Clusters, Listeners, Routes int
}

// apply brings the caches to the batch's state. Resources whose content did
// not change are not touched, so no client hears about them. Updates go
// make-before-break: assignments before the clusters that use them,
// routes before the listeners that name them; removals in reverse.
func (p *publisher) apply(b membership.Batch) (applyResult, error) {
	var eds, cds, rds, lds typeChange
	for _, snap := range b.Changed {
		p.change(snap, &eds, &cds, &rds, &lds)
	}
	for _, name := range b.Removed {
		old, ok := p.state[name]
		if !ok {
			continue
		}
		delete(p.state, name)
		eds.remove = append(eds.remove, old.cla.GetClusterName())
		cds.remove = append(cds.remove, old.cluster.GetName())
		if old.listener != nil {
			lds.remove = append(lds.remove, old.listener.GetName())
			rds.remove = append(rds.remove, old.route.GetName())
		}
	}

	if len(eds.remove) > 0 {
		eds.remove = withoutLive(eds.remove, p.state)
	}

	res := applyResult{
		Endpoints: len(eds.upsert) + len(eds.remove),
		Clusters:  len(cds.upsert) + len(cds.remove),
		Listeners: len(lds.upsert) + len(lds.remove),
		Routes:    len(rds.upsert) + len(rds.remove),
	}
	var errs []error
	update := func(what string, c *cache.LinearCache, upsert map[string]types.Resource, remove []string) {
		if len(upsert) == 0 && len(remove) == 0 {
			return
		}
		if err := c.UpdateResources(upsert, remove); err != nil {
			errs = append(errs, fmt.Errorf("updating %s: %w", what, err))
		}
	}
	update("endpoints", p.caches.endpoints, eds.upsert, nil)
	update("clusters", p.caches.clusters, cds.upsert, nil)
	update("routes", p.caches.routes, rds.upsert, nil)
	update("listeners", p.caches.listeners, lds.upsert, lds.remove)
	update("routes", p.caches.routes, nil, rds.remove)
	update("clusters", p.caches.clusters, nil, cds.remove)
	update("endpoints", p.caches.endpoints, nil, eds.remove)
	return res, errors.Join(errs...)
}

// change rebuilds one cluster's resources and records those that differ
// from what is published. The Cluster, Listener and Route are rebuilt only
// when the spec changed (a member change keeps the same spec pointer). The
// assignment is rebuilt every time, O(cluster), but only changed members get
// a new endpoint; the others are shared with the published assignment.
func (p *publisher) change(snap *membership.ClusterSnapshot, eds, cds, rds, lds *typeChange) {
	old := p.state[snap.Name]
	next := &published{spec: snap.Spec}

	var prevMemo endpointMemo
	if old != nil {
		prevMemo = old.memo
	}
	next.cla, next.memo = buildAssignment(snap, prevMemo, encodedLbEndpoint)
	switch {
	case old == nil || old.cla.GetClusterName() != next.cla.GetClusterName():
		eds.put(next.cla.GetClusterName(), next.cla)
		if old != nil {
			eds.remove = append(eds.remove, old.cla.GetClusterName())
		}
	case sameAssignment(old.cla, next.cla):
		next.cla = old.cla
	default:
		eds.put(next.cla.GetClusterName(), next.cla)
	}

	if old != nil && old.spec == snap.Spec {
		next.cluster, next.listener, next.route = old.cluster, old.listener, old.route
		p.state[snap.Name] = next
		return
	}
	next.cluster = keepIfEqual(old.clusterOrNil(), BuildCluster(snap.Spec), cds)
	if p.grpcListeners {
		next.route = keepIfEqual(old.routeOrNil(), BuildRoute(snap.Spec), rds)
		next.listener = keepIfEqual(old.listenerOrNil(), BuildListener(snap.Spec), lds)
	}
	p.state[snap.Name] = next
}

// withoutLive drops from names the assignments a live cluster publishes:
// an EDS service name can move from a removed or renamed cluster to
// another one in the same batch. Runs only when assignments are removed.
func withoutLive(names []string, state map[string]*published) []string {
	live := make(map[string]bool, len(state))
	for _, p := range state {
		live[p.cla.GetClusterName()] = true
	}
	out := names[:0]
	for _, n := range names {
		if !live[n] {
			out = append(out, n)
		}
	}
	return out
}

// keepIfEqual returns old when it equals built, else records built as an
// update and returns it. Names are the cluster's, so they never change.
func keepIfEqual[T interface {
	types.Resource
	GetName() string
}](old, built T, change *typeChange) T {
	if proto.Equal(old, built) { // a nil old is never equal
		return old
	}
	change.put(built.GetName(), built)
	return built
}

func (p *published) clusterOrNil() *clusterv3.Cluster {
	if p == nil {
		return nil
	}
	return p.cluster
}

func (p *published) listenerOrNil() *listenerv3.Listener {
	if p == nil {
		return nil
	}
	return p.listener
}

func (p *published) routeOrNil() *routev3.RouteConfiguration {
	if p == nil {
		return nil
	}
	return p.route
}
