package xds_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
	"github.com/vigilhq/vigil/xds"
)

var envoyNode = &corev3.Node{Id: "envoy-1", Cluster: "edge", UserAgentName: "envoy"}

// fixture: alpha has one instance in every status, beta and gamma one
// healthy instance each.
type fixture struct {
	store              *membership.Store
	alpha, beta, gamma *upstreams.Cluster
}

func newFixture() *fixture {
	f := &fixture{
		store: membership.NewStore(100),
		alpha: &upstreams.Cluster{Name: "alpha"},
		beta:  &upstreams.Cluster{Name: "beta", XDS: upstreams.XDSOptions{EDSServiceName: "beta-eds"}},
		gamma: &upstreams.Cluster{Name: "gamma"},
	}
	f.store.PutCluster(f.alpha, []membership.Member{
		member("a", "10.0.0.1:80", membership.StatusHealthy),
		member("b", "10.0.0.2:80", membership.StatusDegraded),
		member("c", "10.0.0.3:80", membership.StatusDraining),
		member("d", "10.0.0.4:80", membership.StatusUnhealthy),
		member("e", "10.0.0.5:80", membership.StatusUnknown),
	}, nil)
	f.store.PutCluster(f.beta, []membership.Member{member("b1", "10.1.0.1:80", membership.StatusHealthy)}, nil)
	f.store.PutCluster(f.gamma, []membership.Member{member("g1", "10.2.0.1:80", membership.StatusHealthy)}, nil)
	return f
}

// touchSince changes only what vigil does not publish (the time of the last
// transition): the store changes, the assignment's content does not.
func touchSince(t *testing.T, store *membership.Store, cluster, id string) {
	t.Helper()
	ok := store.UpdateMember(cluster, id, func(m *membership.Member) (*membership.Event, bool) {
		m.Since = m.Since.Add(time.Second)
		return nil, true
	})
	if !ok {
		t.Fatalf("store did not change %s/%s", cluster, id)
	}
}

func decodeCLAs(t *testing.T, anys []*anypb.Any) map[string]*endpointv3.ClusterLoadAssignment {
	t.Helper()
	out := map[string]*endpointv3.ClusterLoadAssignment{}
	for _, a := range anys {
		cla := &endpointv3.ClusterLoadAssignment{}
		if err := a.UnmarshalTo(cla); err != nil {
			t.Fatalf("decode assignment: %v", err)
		}
		out[cla.GetClusterName()] = cla
	}
	return out
}

func decodeClusters(t *testing.T, anys []*anypb.Any) map[string]*clusterv3.Cluster {
	t.Helper()
	out := map[string]*clusterv3.Cluster{}
	for _, a := range anys {
		c := &clusterv3.Cluster{}
		if err := a.UnmarshalTo(c); err != nil {
			t.Fatalf("decode cluster: %v", err)
		}
		out[c.GetName()] = c
	}
	return out
}

// statuses lists an assignment's endpoints as "address=STATUS", in order.
func statuses(cla *endpointv3.ClusterLoadAssignment) []string {
	var out []string
	for _, l := range cla.GetEndpoints() {
		for _, e := range l.GetLbEndpoints() {
			md := e.GetMetadata().GetFilterMetadata()[xds.MetadataKey].GetFields()
			out = append(out, e.GetEndpoint().GetAddress().GetSocketAddress().GetAddress()+"="+
				e.GetHealthStatus().String()+"/"+md["reason"].GetStringValue())
		}
	}
	return out
}

var alphaInitial = []string{
	"10.0.0.1=HEALTHY/test: HEALTHY", "10.0.0.2=DEGRADED/test: DEGRADED", "10.0.0.3=DRAINING/test: DRAINING",
	"10.0.0.4=UNHEALTHY/test: UNHEALTHY", "10.0.0.5=UNKNOWN/test: UNKNOWN",
}

func keys[M ~map[string]V, V any](m M) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestSotwCDSAndEDS(t *testing.T) {
	f := newFixture()
	metrics := newCountingMetrics()
	opts := xds.DefaultOptions()
	opts.Metrics = metrics
	srv := startServer(t, f.store, opts, "")
	c := newSotw(t, dial(t, srv.addr), envoyNode)
	sent := map[string]int{} // assignments received, by name

	// CDS, wildcard the way Envoy's bootstrap asks for it.
	c.request(typeCluster, nil, "", "", "")
	r := c.recvType(typeCluster)
	clusters := decodeClusters(t, r.GetResources())
	if got := keys(clusters); !slices.Equal(got, []string{"alpha", "beta", "gamma"}) {
		t.Fatalf("clusters = %v", got)
	}
	if !strings.HasPrefix(r.GetVersionInfo(), srv.srv.VersionPrefix()) {
		t.Errorf("version %q lacks the server's prefix %q", r.GetVersionInfo(), srv.srv.VersionPrefix())
	}
	if got := clusters["beta"].GetEdsClusterConfig().GetServiceName(); got != "beta-eds" {
		t.Errorf("beta's EDS service name = %q", got)
	}
	c.ack(r, nil)

	names := []string{"alpha", "beta-eds", "gamma"}
	recvEDS := func() map[string]*endpointv3.ClusterLoadAssignment {
		t.Helper()
		r := c.recvType(typeCLA)
		assignments := decodeCLAs(t, r.GetResources())
		for n := range assignments {
			sent[n]++
		}
		c.ack(r, names)
		return assignments
	}
	c.request(typeCLA, names, "", "", "")
	assignments := recvEDS()
	if got := keys(assignments); !slices.Equal(got, names) {
		t.Fatalf("assignments = %v, want %v", got, names)
	}
	if got := statuses(assignments["alpha"]); !slices.Equal(got, alphaInitial) {
		t.Errorf("alpha endpoints:\n got %v\nwant %v", got, alphaInitial)
	}

	// One instance changes: only its cluster's assignment is re-sent (and
	// no Cluster: the next response on the stream is that assignment).
	setStatus(t, f.store, "alpha", "a", membership.StatusDraining)
	assignments = recvEDS()
	if got := keys(assignments); !slices.Equal(got, []string{"alpha"}) {
		t.Fatalf("after one change got %v, want only alpha", got)
	}
	if got := statuses(assignments["alpha"])[0]; got != "10.0.0.1=DRAINING/test: DRAINING" {
		t.Errorf("changed endpoint = %s", got)
	}

	// A store change that leaves the published content equal sends
	// nothing: the next response is the one for gamma's change.
	touchSince(t, f.store, "alpha", "b")
	setStatus(t, f.store, "gamma", "g1", membership.StatusUnhealthy)
	assignments = recvEDS()
	if got := keys(assignments); !slices.Equal(got, []string{"gamma"}) {
		t.Fatalf("after an unpublished change and a gamma change got %v, want only gamma", got)
	}

	// An instance removed from the config leaves the assignment.
	f.store.PutCluster(f.alpha, []membership.Member{
		member("a", "10.0.0.1:80", membership.StatusHealthy),
		member("b", "10.0.0.2:80", membership.StatusDegraded),
	}, nil)
	assignments = recvEDS()
	if got := statuses(assignments["alpha"]); len(assignments) != 1 ||
		!slices.Equal(got, []string{"10.0.0.1=HEALTHY/test: HEALTHY", "10.0.0.2=DEGRADED/test: DEGRADED"}) {
		t.Fatalf("after removing instances got %v: %v", keys(assignments), got)
	}

	// A removed cluster leaves CDS (full state in SotW).
	f.store.RemoveCluster("beta", nil)
	r = c.recvType(typeCluster)
	if got := keys(decodeClusters(t, r.GetResources())); !slices.Equal(got, []string{"alpha", "gamma"}) {
		t.Fatalf("clusters after removal = %v", got)
	}
	c.ack(r, nil)

	// A new cluster appears in CDS, and its assignment is there to fetch.
	delta := &upstreams.Cluster{Name: "delta"}
	f.store.PutCluster(delta, []membership.Member{member("x", "10.3.0.1:80", membership.StatusHealthy)}, nil)
	r = c.recvType(typeCluster)
	if got := keys(decodeClusters(t, r.GetResources())); !slices.Equal(got, []string{"alpha", "delta", "gamma"}) {
		t.Fatalf("clusters after addition = %v", got)
	}
	c.ack(r, nil)
	names = []string{"alpha", "delta", "gamma"}
	c.request(typeCLA, names, r.GetVersionInfo(), "", "")
	if assignments = recvEDS(); !slices.Contains(keys(assignments), "delta") {
		t.Fatalf("new cluster's assignment not sent: %v", keys(assignments))
	}

	if sent["beta-eds"] != 1 {
		t.Errorf("beta's assignment was sent %d times, want once: only changed assignments are re-sent", sent["beta-eds"])
	}
	if sent["alpha"] != 3 {
		t.Errorf("alpha's assignment was sent %d times, want 3 (initial, drain, removal)", sent["alpha"])
	}
	if n := metrics.get(func(m *countingMetrics) int { return m.pushed[typeCLA] }); n < 5 {
		t.Errorf("Metrics.Pushed counted %d assignment pushes, want at least 5", n)
	}
	if n := metrics.get(func(m *countingMetrics) int { return m.opened }); n != 1 {
		t.Errorf("Metrics.StreamOpened = %d, want 1", n)
	}
}

// gRPC clients never mean "everything" by an empty request; Envoy does.
func TestSotwLegacyWildcardOffForGRPC(t *testing.T) {
	f := newFixture()
	srv := startServer(t, f.store, xds.DefaultOptions(), "")
	conn := dial(t, srv.addr)

	grpcNode := &corev3.Node{Id: "grpc-1", UserAgentName: "gRPC Go"}
	g := newSotw(t, conn, grpcNode)
	g.request(typeCluster, nil, "", "", "")
	g.request(typeCLA, []string{"gamma"}, "", "", "")
	// The stream answers in order: had the empty CDS request been taken
	// as a wildcard, its response would come first.
	r := g.recv()
	if r.GetTypeUrl() != typeCLA {
		t.Fatalf("gRPC client's empty CDS request was answered: %s with %d resources", r.GetTypeUrl(), len(r.GetResources()))
	}
	// An explicit wildcard is honoured for gRPC clients too.
	g.request(typeCluster, []string{"*"}, "", "", "")
	if r = g.recvType(typeCluster); len(r.GetResources()) != 3 {
		t.Fatalf("explicit wildcard got %d clusters, want 3", len(r.GetResources()))
	}

	e := newSotw(t, conn, envoyNode)
	e.request(typeCluster, nil, "", "", "")
	if r := e.recvType(typeCluster); len(r.GetResources()) != 3 {
		t.Fatalf("Envoy's wildcard CDS got %d clusters, want 3", len(r.GetResources()))
	}
}

func TestSotwGRPCListenersSwitch(t *testing.T) {
	for _, on := range []bool{true, false} {
		f := newFixture()
		opts := xds.DefaultOptions()
		opts.GRPCListeners = on
		srv := startServer(t, f.store, opts, "")
		c := newSotw(t, dial(t, srv.addr), &corev3.Node{Id: "grpc-2", UserAgentName: "gRPC Go"})
		c.request(typeListener, []string{"alpha"}, "", "", "")
		r := c.recvType(typeListener)
		if !on {
			if len(r.GetResources()) != 0 {
				t.Fatalf("GRPCListeners off: got %d listeners", len(r.GetResources()))
			}
			continue
		}
		if len(r.GetResources()) != 1 {
			t.Fatalf("GRPCListeners on: got %d listeners, want 1", len(r.GetResources()))
		}
		l := &listenerv3.Listener{}
		if err := r.GetResources()[0].UnmarshalTo(l); err != nil || l.GetName() != "alpha" || l.GetApiListener() == nil {
			t.Fatalf("listener = %v (%v)", l, err)
		}
		c.ack(r, []string{"alpha"})
		c.request(typeRoute, []string{"alpha"}, "", "", "")
		r = c.recvType(typeRoute)
		rc := &routev3.RouteConfiguration{}
		if len(r.GetResources()) != 1 || r.GetResources()[0].UnmarshalTo(rc) != nil ||
			rc.GetVirtualHosts()[0].GetRoutes()[0].GetRoute().GetCluster() != "alpha" {
			t.Fatalf("route = %v", r.GetResources())
		}
	}
}

// A type vigil does not serve gets no answer but leaves the stream open.
func TestSotwUnservedTypeKeepsStream(t *testing.T) {
	f := newFixture()
	srv := startServer(t, f.store, xds.DefaultOptions(), "")
	c := newSotw(t, dial(t, srv.addr), envoyNode)
	c.request("type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret", []string{"cert"}, "", "", "")
	c.request(typeCLA, []string{"gamma"}, "", "", "")
	r := c.recvType(typeCLA)
	if len(r.GetResources()) != 1 {
		t.Fatalf("got %d assignments, want 1", len(r.GetResources()))
	}
}
