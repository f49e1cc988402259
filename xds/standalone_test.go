package xds_test

import (
	"context"
	"slices"
	"testing"

	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/xds"
)

// The standalone CDS and EDS services work without ADS.
func TestStandaloneCDSAndEDS(t *testing.T) {
	f := newFixture()
	srv := startServer(t, f.store, xds.DefaultOptions(), "")
	conn := dial(t, srv.addr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	cds, err := clusterservice.NewClusterDiscoveryServiceClient(conn).StreamClusters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cds.Send(&discoveryv3.DiscoveryRequest{Node: envoyNode, TypeUrl: typeCluster}); err != nil {
		t.Fatal(err)
	}
	r, err := cds.Recv()
	if err != nil {
		t.Fatalf("CDS: %v", err)
	}
	if got := keys(decodeClusters(t, r.GetResources())); !slices.Equal(got, []string{"alpha", "beta", "gamma"}) {
		t.Fatalf("CDS clusters = %v", got)
	}

	eds, err := endpointservice.NewEndpointDiscoveryServiceClient(conn).StreamEndpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"alpha"}
	if err := eds.Send(&discoveryv3.DiscoveryRequest{Node: envoyNode, TypeUrl: typeCLA, ResourceNames: names}); err != nil {
		t.Fatal(err)
	}
	r, err = eds.Recv()
	if err != nil {
		t.Fatalf("EDS: %v", err)
	}
	if got := statuses(decodeCLAs(t, r.GetResources())["alpha"]); !slices.Equal(got, alphaInitial) {
		t.Fatalf("EDS alpha = %v", got)
	}
	if err := eds.Send(&discoveryv3.DiscoveryRequest{TypeUrl: typeCLA, ResourceNames: names,
		VersionInfo: r.GetVersionInfo(), ResponseNonce: r.GetNonce()}); err != nil {
		t.Fatal(err)
	}
	setStatus(t, f.store, "alpha", "e", membership.StatusHealthy)
	if r, err = eds.Recv(); err != nil {
		t.Fatalf("EDS update: %v", err)
	}
	if got := statuses(decodeCLAs(t, r.GetResources())["alpha"])[4]; got != "10.0.0.5=HEALTHY/test: HEALTHY" {
		t.Fatalf("EDS update: alpha/e = %s", got)
	}

	dcds, err := clusterservice.NewClusterDiscoveryServiceClient(conn).DeltaClusters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := dcds.Send(&discoveryv3.DeltaDiscoveryRequest{Node: envoyNode, TypeUrl: typeCluster,
		ResourceNamesSubscribe: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	dr, err := dcds.Recv()
	if err != nil {
		t.Fatalf("delta CDS: %v", err)
	}
	if got := keys(decodeClusters(t, deltaAnys(dr))); !slices.Equal(got, []string{"alpha", "beta", "gamma"}) {
		t.Fatalf("delta CDS clusters = %v", got)
	}
}
