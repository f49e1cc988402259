package xds

import (
	"io"
	"log/slog"
	"testing"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/proto"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// An EDS service name that moves from a removed cluster to a new one in
// the same batch stays published, with the new cluster's endpoints.
func TestPublisherKeepsAnEDSNameThatMoves(t *testing.T) {
	c := newCaches("test-", slogAdapter{l: discardLogger()})
	p := newPublisher(c, true)
	member := func(addr string) []*membership.Member {
		return []*membership.Member{{Instance: upstreams.Instance{ID: addr, Address: addr, Weight: 1}, Status: membership.StatusHealthy}}
	}
	oldSpec := &upstreams.Cluster{Name: "old", XDS: upstreams.XDSOptions{EDSServiceName: "svc"}}
	newSpec := &upstreams.Cluster{Name: "new", XDS: upstreams.XDSOptions{EDSServiceName: "svc"}}
	if _, err := p.apply(membership.Batch{Changed: []*membership.ClusterSnapshot{
		{Name: "old", Spec: oldSpec, Members: member("10.0.0.1:80")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.apply(membership.Batch{
		Changed: []*membership.ClusterSnapshot{{Name: "new", Spec: newSpec, Members: member("10.0.0.2:80")}},
		Removed: []string{"old"},
	}); err != nil {
		t.Fatal(err)
	}
	res := c.endpoints.GetResources()
	cla, ok := res["svc"].(*endpointv3.ClusterLoadAssignment)
	if !ok {
		t.Fatalf("assignment svc was deleted; endpoints cache holds %v", res)
	}
	cla = asClientSees(t, cla)
	addr := cla.GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress().GetAddress()
	if addr != "10.0.0.2" {
		t.Errorf("svc has endpoint %s, want the new cluster's 10.0.0.2", addr)
	}
	if _, ok := c.clusters.GetResources()["old"]; ok {
		t.Errorf("cluster old still published")
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// asClientSees is a published assignment as a client decodes it: published
// endpoints are held pre-encoded.
func asClientSees(t *testing.T, cla *endpointv3.ClusterLoadAssignment) *endpointv3.ClusterLoadAssignment {
	t.Helper()
	b, err := proto.Marshal(cla)
	if err != nil {
		t.Fatal(err)
	}
	out := &endpointv3.ClusterLoadAssignment{}
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}
