package xds_test

import (
	"slices"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
	"github.com/vigilhq/vigil/xds"
)

func deltaAnys(r *discoveryv3.DeltaDiscoveryResponse) []*anypb.Any {
	out := make([]*anypb.Any, 0, len(r.GetResources()))
	for _, res := range r.GetResources() {
		out = append(out, res.GetResource())
	}
	return out
}

func TestDeltaCDSAndEDS(t *testing.T) {
	f := newFixture()
	srv := startServer(t, f.store, xds.DefaultOptions(), "")
	c := newDelta(t, dial(t, srv.addr), envoyNode)
	sent := map[string]int{}

	c.subscribe(typeCluster, "*")
	r := c.recvType(typeCluster)
	if got := keys(decodeClusters(t, deltaAnys(r))); !slices.Equal(got, []string{"alpha", "beta", "gamma"}) {
		t.Fatalf("clusters = %v", got)
	}
	c.ack(r)

	recvEDS := func() *discoveryv3.DeltaDiscoveryResponse {
		t.Helper()
		r := c.recvType(typeCLA)
		for _, res := range r.GetResources() {
			sent[res.GetName()]++
			if res.GetVersion() == "" {
				t.Errorf("resource %s has no version", res.GetName())
			}
		}
		c.ack(r)
		return r
	}
	c.subscribe(typeCLA, "alpha", "beta-eds", "gamma")
	assignments := decodeCLAs(t, deltaAnys(recvEDS()))
	if got := keys(assignments); !slices.Equal(got, []string{"alpha", "beta-eds", "gamma"}) {
		t.Fatalf("assignments = %v", got)
	}
	if got := statuses(assignments["alpha"]); !slices.Equal(got, alphaInitial) {
		t.Errorf("alpha endpoints:\n got %v\nwant %v", got, alphaInitial)
	}

	// Every status, one transition at a time: only alpha is re-sent.
	for _, st := range []membership.Status{membership.StatusDegraded, membership.StatusDraining,
		membership.StatusUnhealthy, membership.StatusUnknown, membership.StatusHealthy} {
		setStatus(t, f.store, "alpha", "c", st)
		assignments = decodeCLAs(t, deltaAnys(recvEDS()))
		if got := keys(assignments); !slices.Equal(got, []string{"alpha"}) {
			t.Fatalf("after one change got %v, want only alpha", got)
		}
		want := "10.0.0.3=" + st.String() + "/test: " + st.String()
		if got := statuses(assignments["alpha"])[2]; got != want {
			t.Errorf("endpoint c = %s, want %s", got, want)
		}
	}

	// Unpublished change: nothing sent before gamma's change.
	touchSince(t, f.store, "alpha", "a")
	setStatus(t, f.store, "gamma", "g1", membership.StatusDraining)
	if got := keys(decodeCLAs(t, deltaAnys(recvEDS()))); !slices.Equal(got, []string{"gamma"}) {
		t.Fatalf("after an unpublished change and a gamma change got %v, want only gamma", got)
	}

	// Instance removal.
	f.store.PutCluster(f.alpha, []membership.Member{member("a", "10.0.0.1:80", membership.StatusHealthy)}, nil)
	assignments = decodeCLAs(t, deltaAnys(recvEDS()))
	if got := statuses(assignments["alpha"]); !slices.Equal(got, []string{"10.0.0.1=HEALTHY/test: HEALTHY"}) {
		t.Fatalf("after removing instances alpha = %v", got)
	}

	// Cluster removal: the Cluster first, then its assignment.
	f.store.RemoveCluster("beta", nil)
	r = c.recvType(typeCluster)
	if len(r.GetResources()) != 0 || !slices.Equal(r.GetRemovedResources(), []string{"beta"}) {
		t.Fatalf("CDS after removal: %d resources, removed %v", len(r.GetResources()), r.GetRemovedResources())
	}
	c.ack(r)
	r = recvEDS()
	if len(r.GetResources()) != 0 || !slices.Equal(r.GetRemovedResources(), []string{"beta-eds"}) {
		t.Fatalf("EDS after removal: %d resources, removed %v", len(r.GetResources()), r.GetRemovedResources())
	}

	// A spec change (new lb policy) re-sends that Cluster only.
	alpha2 := &upstreams.Cluster{Name: "alpha", XDS: upstreams.XDSOptions{LBPolicy: "LEAST_REQUEST"}}
	f.store.PutCluster(alpha2, []membership.Member{member("a", "10.0.0.1:80", membership.StatusHealthy)}, nil)
	r = c.recvType(typeCluster)
	cl := decodeClusters(t, deltaAnys(r))
	if got := keys(cl); !slices.Equal(got, []string{"alpha"}) || cl["alpha"].GetLoadBalancingPolicy() == nil {
		t.Fatalf("CDS after a spec change = %v", cl)
	}
	c.ack(r)
	// Same spec content under a new pointer, same members: nothing is
	// sent, so the next response is gamma's.
	f.store.PutCluster(&upstreams.Cluster{Name: "alpha", XDS: upstreams.XDSOptions{LBPolicy: "LEAST_REQUEST"}},
		[]membership.Member{member("a", "10.0.0.1:80", membership.StatusHealthy)}, nil)
	setStatus(t, f.store, "gamma", "g1", membership.StatusHealthy)
	if got := keys(decodeCLAs(t, deltaAnys(recvEDS()))); !slices.Equal(got, []string{"gamma"}) {
		t.Fatalf("after an equal reload and a gamma change got %v, want only gamma", got)
	}

	if sent["beta-eds"] != 1 {
		t.Errorf("beta's assignment was sent %d times, want once", sent["beta-eds"])
	}
	if sent["alpha"] != 7 {
		t.Errorf("alpha's assignment was sent %d times, want 7 (initial, 5 transitions, removal)", sent["alpha"])
	}
}
