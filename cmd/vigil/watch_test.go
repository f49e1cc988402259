package main

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	consulapi "github.com/hashicorp/consul/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"
)

// claType is the type URL of an EDS ClusterLoadAssignment.
const claType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"

// sighting is one whole view of a cluster a consumer was given: an EDS
// assignment (SotW or delta: either carries the cluster's whole endpoint
// list) or a Consul ?passing answer.
type sighting struct {
	at      time.Time
	source  string // "sotw", "delta" or "consul"
	cluster string
	version string            // EDS: the version (its prefix names the vigil process); consul: ""
	health  map[string]string // address -> EDS health status; consul: the passing addresses, "HEALTHY"
	held    map[string]string // EDS: address -> held_reason of the endpoints vigil holds (metadata "held")
}

// sightings collects what the watchers were given, in arrival order.
type sightings struct {
	mu  sync.Mutex
	all []sighting
}

func (s *sightings) add(v sighting) {
	s.mu.Lock()
	s.all = append(s.all, v)
	s.mu.Unlock()
}

// since returns the sightings that arrived at or after t.
func (s *sightings) since(t time.Time) []sighting {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sighting
	for _, v := range s.all {
		if !v.at.Before(t) {
			out = append(out, v)
		}
	}
	return out
}

// first is the oldest sighting of cluster from source at or after t.
func (s *sightings) first(source, cluster string, t time.Time) (sighting, bool) {
	for _, v := range s.since(t) {
		if v.source == source && v.cluster == cluster {
			return v, true
		}
	}
	return sighting{}, false
}

// latest is the newest sighting of cluster from source, and whether there is one.
func (s *sightings) latest(source, cluster string) (sighting, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.all) - 1; i >= 0; i-- {
		if v := s.all[i]; v.source == source && v.cluster == cluster {
			return v, true
		}
	}
	return sighting{}, false
}

// claSighting is an assignment as a sighting (its time and source left
// to the caller).
func claSighting(t *testing.T, a *anypb.Any) sighting {
	cla := &endpointv3.ClusterLoadAssignment{}
	if err := a.UnmarshalTo(cla); err != nil {
		t.Errorf("decode assignment: %v", err)
		return sighting{}
	}
	v := sighting{cluster: cla.GetClusterName(), health: map[string]string{}, held: map[string]string{}}
	for _, l := range cla.GetEndpoints() {
		for _, e := range l.GetLbEndpoints() {
			sa := e.GetEndpoint().GetAddress().GetSocketAddress()
			addr := net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue())))
			v.health[addr] = e.GetHealthStatus().String()
			if md := e.GetMetadata().GetFilterMetadata()["vigil"].GetFields(); md["held"].GetBoolValue() {
				v.held[addr] = md["held_reason"].GetStringValue()
			}
		}
	}
	return v
}

// watchEDS runs a state-of-the-world and a delta ADS client watching the
// assignments of clusters at addr until the test ends, as Envoy does:
// each reconnects whenever its stream ends (a restart), presenting what it
// holds, and every assignment each receives is a sighting.
func watchEDS(t *testing.T, addr string, clusters []string, seen *sightings) {
	// Reconnect within 100 ms (grpc-go's default waits a second and more),
	// so that the first answers of a restarted vigil are seen.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: time.Second,
			Backoff: backoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1.6, MaxDelay: 100 * time.Millisecond}}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait(); _ = conn.Close() }) // test cleanup
	client := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
	node := &corev3.Node{Id: "restart-test", Cluster: "test"}
	wg.Go(func() {
		version := ""
		reconnect(ctx, func() {
			stream, err := client.StreamAggregatedResources(ctx)
			if err != nil {
				return
			}
			req := &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: claType, ResourceNames: clusters, VersionInfo: version}
			for stream.Send(req) == nil {
				resp, err := stream.Recv()
				if err != nil {
					return
				}
				at := time.Now()
				for _, r := range resp.GetResources() {
					v := claSighting(t, r)
					v.at, v.source, v.version = at, "sotw", resp.GetVersionInfo()
					seen.add(v)
				}
				version = resp.GetVersionInfo()
				req = &discoveryv3.DiscoveryRequest{TypeUrl: claType, ResourceNames: clusters, VersionInfo: version,
					ResponseNonce: resp.GetNonce()}
			}
		})
	})
	wg.Go(func() {
		held := map[string]string{}
		reconnect(ctx, func() {
			stream, err := client.DeltaAggregatedResources(ctx)
			if err != nil {
				return
			}
			req := &discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: claType, ResourceNamesSubscribe: clusters,
				InitialResourceVersions: held}
			for stream.Send(req) == nil {
				resp, err := stream.Recv()
				if err != nil {
					return
				}
				at := time.Now()
				for _, r := range resp.GetResources() {
					v := claSighting(t, r.GetResource())
					v.at, v.source, v.version = at, "delta", r.GetVersion()
					seen.add(v)
					held[r.GetName()] = r.GetVersion()
				}
				for _, name := range resp.GetRemovedResources() {
					seen.add(sighting{at: at, source: "delta", cluster: name, health: map[string]string{}})
					delete(held, name)
				}
				req = &discoveryv3.DeltaDiscoveryRequest{TypeUrl: claType, ResponseNonce: resp.GetNonce()}
			}
		})
	})
}

// watchPassing follows Consul's ?passing answers for services with
// blocking queries until the test ends; every answer is a sighting.
func watchPassing(t *testing.T, client *consulapi.Client, services []string, seen *sightings) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, svc := range services {
		wg.Go(func() {
			var index uint64
			reconnect(ctx, func() {
				for ctx.Err() == nil {
					q := (&consulapi.QueryOptions{WaitIndex: index, WaitTime: 5 * time.Second}).WithContext(ctx)
					entries, meta, err := client.Health().Service(svc, "", true, q)
					if err != nil {
						return
					}
					health := map[string]string{}
					for _, e := range entries {
						health[net.JoinHostPort(e.Service.Address, strconv.Itoa(e.Service.Port))] = "HEALTHY"
					}
					seen.add(sighting{at: time.Now(), source: "consul", cluster: svc, health: health})
					index = meta.LastIndex
				}
			})
		})
	}
}

// reconnect runs session again and again, 20 ms apart, until ctx ends.
func reconnect(ctx context.Context, session func()) {
	for ctx.Err() == nil {
		session()
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}
