package xds_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	grpcxds "google.golang.org/grpc/xds" // registers the xds resolver and balancers

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
	"github.com/vigilhq/vigil/xds"
)

// startBackend runs a real gRPC server (the standard health service) that
// stands for one instance, and returns its address.
func startBackend(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, health.NewServer())
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return lis.Addr().String()
}

// xdsClient is a gRPC channel to xds:///<cluster> bootstrapped at vigil.
type xdsClient struct {
	t      *testing.T
	health healthpb.HealthClient
}

func newXDSClient(t *testing.T, vigilAddr, cluster string) *xdsClient {
	t.Helper()
	bootstrap := fmt.Sprintf(`{
		"xds_servers": [{"server_uri": %q, "channel_creds": [{"type": "insecure"}], "server_features": ["xds_v3"]}],
		"node": {"id": "grpc-test-client", "cluster": "tests", "locality": {"zone": "z1"}}
	}`, vigilAddr)
	builder, err := grpcxds.NewXDSResolverWithConfigForTesting([]byte(bootstrap))
	if err != nil {
		t.Fatalf("xds resolver: %v", err)
	}
	conn, err := grpc.NewClient("xds:///"+cluster, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithResolvers(builder))
	if err != nil {
		t.Fatalf("dial xds:///%s: %v", cluster, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &xdsClient{t: t, health: healthpb.NewHealthClient(conn)}
}

// call makes one RPC and returns the address of the backend that served it.
func (c *xdsClient) call() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var p peer.Peer
	if _, err := c.health.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p), grpc.WaitForReady(true)); err != nil {
		return "", err
	}
	return p.Addr.String(), nil
}

// awaitSet makes RPCs until `run` consecutive ones were served exactly by
// the backends in want (each at least once), failing after waitTimeout.
func (c *xdsClient) awaitSet(what string, want ...string) {
	c.t.Helper()
	const run = 24
	deadline := time.Now().Add(waitTimeout)
	seen, n := map[string]int{}, 0
	for n < run || len(seen) != len(want) {
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: RPCs never settled on %v (last run: %v)", what, want, seen)
		}
		addr, err := c.call()
		if err != nil {
			c.t.Fatalf("%s: RPC failed: %v", what, err)
		}
		if !contains(want, addr) {
			seen, n = map[string]int{}, 0
			continue
		}
		seen[addr]++
		n++
	}
}

// never makes n RPCs and fails if any reaches addr.
func (c *xdsClient) never(what, addr string, n int) {
	c.t.Helper()
	for range n {
		got, err := c.call()
		if err != nil {
			c.t.Fatalf("%s: RPC failed: %v", what, err)
		}
		if got == addr {
			c.t.Fatalf("%s: an RPC reached %s", what, addr)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestProxylessGRPCClientFollowsMembership(t *testing.T) {
	b1, b2, b3 := startBackend(t), startBackend(t), startBackend(t)
	store := membership.NewStore(100)
	spec := &upstreams.Cluster{Name: "echo"}
	store.PutCluster(spec, []membership.Member{
		member("b1", b1, membership.StatusHealthy),
		member("b2", b2, membership.StatusHealthy),
		member("b3", b3, membership.StatusHealthy),
	}, nil)
	srv := startServer(t, store, xds.DefaultOptions(), "")
	c := newXDSClient(t, srv.addr, "echo")

	c.awaitSet("all healthy", b1, b2, b3)

	setStatus(t, store, "echo", "b2", membership.StatusDraining)
	c.awaitSet("b2 draining", b1, b3)
	c.never("b2 draining", b2, 60)

	setStatus(t, store, "echo", "b2", membership.StatusHealthy)
	c.awaitSet("b2 recovered", b1, b2, b3)

	store.PutCluster(spec, []membership.Member{
		member("b1", b1, membership.StatusHealthy),
		member("b2", b2, membership.StatusHealthy),
	}, nil)
	c.awaitSet("b3 removed", b1, b2)
	c.never("b3 removed", b3, 60)

	// vigil restarts on the same port; meanwhile b1 fails. The client
	// reconnects and follows.
	srv.stop()
	setStatus(t, store, "echo", "b1", membership.StatusUnhealthy)
	startServer(t, store, xds.DefaultOptions(), srv.addr)
	c.awaitSet("b1 unhealthy after restart", b2)
	c.never("b1 unhealthy after restart", b1, 30)
}
