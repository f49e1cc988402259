package xds

import (
	"math"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// MetadataKey is the filter_metadata key under which every endpoint carries
// vigil's view of it: "id", "status" (HEALTHY, DRAINING, ...) and "reason".
const MetadataKey = "vigil"

// localityKey groups endpoints: one LocalityLbEndpoints per locality and
// priority, as Envoy and gRPC expect.
type localityKey struct {
	priority              uint32
	region, zone, subZone string
}

func memberLocality(m *membership.Member) localityKey {
	return localityKey{priority: m.Priority, region: m.Region, zone: m.Zone, subZone: m.SubZone}
}

func compareLocality(a, b localityKey) int {
	switch {
	case a.priority != b.priority:
		if a.priority < b.priority {
			return -1
		}
		return 1
	case a.region != b.region:
		return strings.Compare(a.region, b.region)
	case a.zone != b.zone:
		return strings.Compare(a.zone, b.zone)
	}
	return strings.Compare(a.subZone, b.subZone)
}

// BuildAssignment returns the ClusterLoadAssignment of one cluster snapshot,
// named after its EDS service name. Each member becomes one LbEndpoint with
// its traffic address, weight (at least 1) and published status, grouped by
// locality and priority. Configured priorities are renumbered 0..n-1 in
// their order, because Envoy and gRPC reject gaps. Each locality's weight is
// the sum of its endpoints' weights, so gRPC splits traffic by capacity.
// The output is deterministic: the same snapshot content yields an equal
// message.
func BuildAssignment(c *membership.ClusterSnapshot) *endpointv3.ClusterLoadAssignment {
	cla, _ := buildAssignment(c, nil, buildLbEndpoint)
	return cla
}

// endpointBuilder makes the LbEndpoint of one member from its published
// fields: buildLbEndpoint, or encodedLbEndpoint for what the server
// publishes.
type endpointBuilder func(f endpointFields) *endpointv3.LbEndpoint

// buildAssignment is BuildAssignment reusing the endpoints of prev (may be
// nil) whose published fields did not change and making the others with
// build. It returns the memo of this build.
func buildAssignment(c *membership.ClusterSnapshot, prev endpointMemo, build endpointBuilder) (*endpointv3.ClusterLoadAssignment, endpointMemo) {
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: c.Spec.EDSName()}
	memo := make(endpointMemo, 0, len(c.Members))
	if len(c.Members) == 0 {
		return cla, memo
	}

	distinct := make([]localityKey, 0, 4)
	var seen map[localityKey]struct{} // once there are many localities
	for _, m := range c.Members {
		k := memberLocality(m)
		if len(distinct) > 0 && k == distinct[len(distinct)-1] {
			continue
		}
		if seen == nil && len(distinct) > 8 {
			seen = make(map[localityKey]struct{}, 64)
			for _, d := range distinct {
				seen[d] = struct{}{}
			}
		}
		if seen != nil {
			if _, ok := seen[k]; !ok {
				seen[k] = struct{}{}
				distinct = append(distinct, k)
			}
		} else if !slices.Contains(distinct, k) {
			distinct = append(distinct, k)
		}
	}
	slices.SortFunc(distinct, compareLocality)

	// Renumber priorities densely, keeping their order.
	priority := make(map[uint32]uint32, 2)
	for _, k := range distinct {
		if _, ok := priority[k.priority]; !ok {
			priority[k.priority] = uint32(len(priority))
		}
	}

	groups := make([]*endpointv3.LocalityLbEndpoints, len(distinct))
	sums := make([]uint64, len(distinct))
	for i, k := range distinct {
		groups[i] = &endpointv3.LocalityLbEndpoints{
			Locality: &corev3.Locality{Region: k.region, Zone: k.zone, SubZone: k.subZone},
			Priority: priority[k.priority],
		}
	}
	p := 0 // walks prev alongside the members: both are sorted by ID
	for _, m := range c.Members {
		g := 0
		if len(distinct) > 1 {
			g, _ = slices.BinarySearchFunc(distinct, memberLocality(m), compareLocality)
		}
		e := memoEntry{m: m}
		for p < len(prev) && prev[p].m.ID < m.ID {
			p++
		}
		if p < len(prev) && samePublished(prev[p].m, m) {
			e.ep = prev[p].ep
		} else {
			e.ep = build(fieldsOf(m))
		}
		memo = append(memo, e)
		sums[g] += uint64(max(m.Weight, 1))
		if groups[g].LbEndpoints == nil {
			groups[g].LbEndpoints = make([]*endpointv3.LbEndpoint, 0, len(c.Members)/len(distinct)+1)
		}
		groups[g].LbEndpoints = append(groups[g].LbEndpoints, e.ep)
	}
	for i, g := range groups {
		g.LoadBalancingWeight = wrapperspb.UInt32(uint32(min(sums[i], math.MaxUint32)))
	}
	cla.Endpoints = groups
	return cla, memo
}

// buildLbEndpoint is one member as an endpoint.
func buildLbEndpoint(m endpointFields) *endpointv3.LbEndpoint {
	host, port := upstreams.Instance{Address: m.address}.HostPort()
	return &endpointv3.LbEndpoint{
		HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Protocol:      corev3.SocketAddress_TCP,
				Address:       host,
				PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)},
			}}},
		}},
		HealthStatus:        HealthStatus(m.status),
		LoadBalancingWeight: wrapperspb.UInt32(m.weight),
		Metadata: &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
			MetadataKey: {Fields: map[string]*structpb.Value{
				"id":     structpb.NewStringValue(m.id),
				"status": structpb.NewStringValue(m.status.String()),
				"reason": structpb.NewStringValue(m.reason),
			}},
		}},
	}
}

// encodedLbEndpoint is buildLbEndpoint's endpoint held already encoded: an
// empty LbEndpoint whose unknown fields are the deterministic encoding of
// the full one. It marshals to exactly the same bytes, but marshaling an
// assignment then copies each endpoint's bytes instead of encoding its
// metadata maps again, so a push after one member changed encodes one
// endpoint and copies the rest. Clients decode it as the full endpoint;
// in-process readers must use BuildAssignment instead.
func encodedLbEndpoint(m endpointFields) *endpointv3.LbEndpoint {
	full := buildLbEndpoint(m)
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(full)
	if err != nil { // not expected for a message built above; publish it as is
		return full
	}
	enc := &endpointv3.LbEndpoint{}
	enc.ProtoReflect().SetUnknown(b)
	return enc
}

// HealthStatus maps a published status to Envoy's, one to one: the numeric
// values of membership.Status are Envoy's on purpose.
func HealthStatus(s membership.Status) corev3.HealthStatus {
	switch s {
	case membership.StatusHealthy:
		return corev3.HealthStatus_HEALTHY
	case membership.StatusDegraded:
		return corev3.HealthStatus_DEGRADED
	case membership.StatusDraining:
		return corev3.HealthStatus_DRAINING
	case membership.StatusUnhealthy:
		return corev3.HealthStatus_UNHEALTHY
	default:
		return corev3.HealthStatus_UNKNOWN
	}
}
