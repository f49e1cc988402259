// Package xdstest is what the tests of vigil's xDS consumers share: ADS
// clients that follow assignments the way Envoy does (ACK every answer,
// reconnect at once presenting what they hold) and the decoding of an
// assignment into what a load balancer reads from it.
package xdstest

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
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"
)

// Assignment is one cluster's endpoints as a consumer reads them.
type Assignment struct {
	Cluster string
	Version string            // SotW: the response's version; delta: the resource's
	Health  map[string]string // "host:port" -> HEALTHY, UNHEALTHY, DRAINING, ...
	Held    map[string]string // "host:port" -> held_reason, for the endpoints vigil holds
}

// Decode reads one ClusterLoadAssignment resource.
func Decode(a *anypb.Any) (Assignment, error) {
	var cla endpointv3.ClusterLoadAssignment
	if err := a.UnmarshalTo(&cla); err != nil {
		return Assignment{}, err
	}
	out := Assignment{Cluster: cla.GetClusterName(), Health: map[string]string{}, Held: map[string]string{}}
	for _, l := range cla.GetEndpoints() {
		for _, e := range l.GetLbEndpoints() {
			sa := e.GetEndpoint().GetAddress().GetSocketAddress()
			addr := net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue())))
			out.Health[addr] = e.GetHealthStatus().String()
			if md := e.GetMetadata().GetFilterMetadata()["vigil"].GetFields(); md["held"].GetBoolValue() {
				out.Held[addr] = md["held_reason"].GetStringValue()
			}
		}
	}
	return out, nil
}

// Update is one answer a watcher received.
type Update struct {
	At          time.Time
	Source      string // "sotw" or "delta"
	Assignments []Assignment
	Removed     []string // delta: the clusters the server removed
}

// Dial connects to an xDS server that the test may restart. It redials
// within 100 ms (grpc-go's default waits a second and more), so the first
// answers of a restarted server are seen. The test's end closes it.
func Dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: time.Second,
			Backoff: backoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1.6, MaxDelay: 100 * time.Millisecond}}))
	if err != nil {
		t.Fatalf("dial xDS %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() }) // test cleanup
	return conn
}

// WatchSotW follows the assignments of clusters over state-of-the-world
// ADS streams on conn until the test ends, calling seen with every answer.
// When a stream breaks it opens another at once, presenting the version it
// holds, as Envoy does.
func WatchSotW(t testing.TB, conn grpc.ClientConnInterface, node *corev3.Node, clusters []string, seen func(Update)) {
	client := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
	version := ""
	follow(t, func(ctx context.Context) {
		stream, err := client.StreamAggregatedResources(ctx)
		if err != nil {
			return
		}
		req := &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNames: clusters, VersionInfo: version}
		for stream.Send(req) == nil {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			u := Update{At: time.Now(), Source: "sotw"}
			for _, r := range resp.GetResources() {
				if a, ok := decode(t, r); ok {
					a.Version = resp.GetVersionInfo()
					u.Assignments = append(u.Assignments, a)
				}
			}
			seen(u)
			version = resp.GetVersionInfo()
			req = &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNames: clusters,
				VersionInfo: version, ResponseNonce: resp.GetNonce()}
		}
	})
}

// WatchDelta is WatchSotW over incremental (delta) ADS streams; a new
// stream presents the versions of the resources it holds.
func WatchDelta(t testing.TB, conn grpc.ClientConnInterface, node *corev3.Node, clusters []string, seen func(Update)) {
	client := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
	held := map[string]string{}
	follow(t, func(ctx context.Context) {
		stream, err := client.DeltaAggregatedResources(ctx)
		if err != nil {
			return
		}
		req := &discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resource.EndpointType,
			ResourceNamesSubscribe: clusters, InitialResourceVersions: held}
		for stream.Send(req) == nil {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			u := Update{At: time.Now(), Source: "delta", Removed: resp.GetRemovedResources()}
			for _, r := range resp.GetResources() {
				if a, ok := decode(t, r.GetResource()); ok {
					a.Version = r.GetVersion()
					u.Assignments = append(u.Assignments, a)
				}
				held[r.GetName()] = r.GetVersion()
			}
			for _, name := range u.Removed {
				delete(held, name)
			}
			seen(u)
			req = &discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.EndpointType, ResponseNonce: resp.GetNonce()}
		}
	})
}

func decode(t testing.TB, r *anypb.Any) (Assignment, bool) {
	a, err := Decode(r)
	if err != nil {
		t.Errorf("decode an assignment: %v", err)
		return Assignment{}, false
	}
	return a, true
}

// follow runs session again and again, 20 ms apart, until the test ends.
func follow(t testing.TB, session func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		for ctx.Err() == nil {
			session(ctx)
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
}
