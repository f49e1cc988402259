package xds

import (
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/proto"

	"github.com/vigilhq/vigil/membership"
)

// endpointMemo remembers the LbEndpoint built for each member, in member
// order (sorted by ID), so that rebuilding a cluster after one member
// changed builds one endpoint and shares the others with the previous
// assignment. Shared endpoints are never modified after they are built.
type endpointMemo []memoEntry

// memoEntry is a member (immutable, shared by the snapshots in which it
// did not change) and the endpoint built from it.
type memoEntry struct {
	m  *membership.Member
	ep *endpointv3.LbEndpoint
}

// endpointFields is all of a member that its endpoint shows: the endpoint
// builders read a member only through it, so two members with equal
// fields get equal endpoints, and a field an endpoint starts to show is
// compared as soon as it can be built from.
type endpointFields struct {
	id, address, reason string
	weight              uint32 // at least 1
	status              membership.Status
}

func fieldsOf(m *membership.Member) endpointFields {
	return endpointFields{id: m.ID, address: m.Address, reason: m.Reason, weight: max(m.Weight, 1), status: m.Status}
}

// samePublished reports whether an endpoint built from a shows b as well.
func samePublished(a, b *membership.Member) bool {
	return a == b || fieldsOf(a) == fieldsOf(b)
}

// sameAssignment reports whether a and b have equal content. Endpoints
// shared through the memo compare by pointer, so a rebuild where nothing
// changed costs one pass without reflection.
func sameAssignment(a, b *endpointv3.ClusterLoadAssignment) bool {
	if a.GetClusterName() != b.GetClusterName() || len(a.GetEndpoints()) != len(b.GetEndpoints()) ||
		a.GetPolicy() != nil || b.GetPolicy() != nil || len(a.GetNamedEndpoints()) != 0 || len(b.GetNamedEndpoints()) != 0 {
		return proto.Equal(a, b)
	}
	for i, ga := range a.GetEndpoints() {
		gb := b.GetEndpoints()[i]
		if ga.GetPriority() != gb.GetPriority() || !proto.Equal(ga.GetLocality(), gb.GetLocality()) ||
			ga.GetLoadBalancingWeight().GetValue() != gb.GetLoadBalancingWeight().GetValue() ||
			len(ga.GetLbEndpoints()) != len(gb.GetLbEndpoints()) {
			return false
		}
		for j, ea := range ga.GetLbEndpoints() {
			if eb := gb.GetLbEndpoints()[j]; ea != eb && !proto.Equal(ea, eb) {
				return false
			}
		}
	}
	return true
}
