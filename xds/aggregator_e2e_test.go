package xds_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/vigilhq/vigil/aggregator"
	"github.com/vigilhq/vigil/internal/seedtest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
	"github.com/vigilhq/vigil/xds"
)

// TestReadinessDrainLeavesGRPCRotation runs the whole path with no shortcut:
// real /readyz servers (seed 002) probed by the aggregator, membership
// published over xDS, and a grpc-go client on xds:///engines calling real
// gRPC backends. When one backend's readiness starts answering
// "draining": true, no new RPC reaches it after the next push; when it
// recovers, RPCs reach it again; when it is removed from config, it leaves.
func TestReadinessDrainLeavesGRPCRotation(t *testing.T) {
	backends := []string{startBackend(t), startBackend(t), startBackend(t)}
	readyz := make([]*seedtest.Server, len(backends))
	var insts []upstreams.Instance
	for i, addr := range backends {
		readyz[i] = seedtest.NewServer(t, seedtest.HealthzReady)
		_, port, _ := net.SplitHostPort(readyz[i].Addr())
		p, _ := strconv.Atoi(port)
		insts = append(insts, upstreams.Instance{ID: "b" + strconv.Itoa(i+1), Address: addr, Weight: 1, ProbePort: p})
	}
	cluster := upstreams.Cluster{Name: "engines", InitialStatus: upstreams.InitialUnhealthy,
		Readiness: &upstreams.Probe{Kind: upstreams.KindHTTP, Scheme: "http", Path: "/readyz",
			Dialect: upstreams.DialectHealthz, ExpectedStatuses: upstreams.DefaultStatuses, MaxBodyBytes: 64 << 10,
			Timing: upstreams.Timing{Interval: 100 * time.Millisecond, Timeout: 80 * time.Millisecond,
				HealthyThreshold: 2, UnhealthyThreshold: 3}},
		Instances: insts}

	store := membership.NewStore(1000)
	agg := aggregator.New(aggregator.Options{Store: store, MaxConcurrency: 8})
	if err := agg.Apply([]upstreams.Cluster{cluster}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := agg.Run(ctx); err != nil {
			t.Errorf("aggregator Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })

	srv := startServer(t, store, xds.DefaultOptions(), "")
	c := newXDSClient(t, srv.addr, "engines")
	c.awaitSet("all ready", backends...)

	readyz[1].Set(seedtest.HealthzDraining)
	c.awaitSet("b2 draining", backends[0], backends[2])
	c.never("b2 draining", backends[1], 60)
	if m := memberOf(t, store, "engines", "b2"); m.Status != membership.StatusDraining {
		t.Errorf("store: b2 is %s (%s)", m.Status, m.Reason)
	}

	readyz[1].Set(seedtest.HealthzReady)
	c.awaitSet("b2 recovered", backends...)

	cluster.Instances = insts[:2]
	if err := agg.Apply([]upstreams.Cluster{cluster}); err != nil {
		t.Fatal(err)
	}
	c.awaitSet("b3 removed", backends[0], backends[1])
	c.never("b3 removed", backends[2], 60)
}

func memberOf(t *testing.T, store *membership.Store, cluster, id string) membership.Member {
	t.Helper()
	c, ok := store.Cluster(cluster)
	if !ok {
		t.Fatalf("no cluster %s", cluster)
	}
	m, ok := c.Member(id)
	if !ok {
		t.Fatalf("no member %s", id)
	}
	return *m
}
