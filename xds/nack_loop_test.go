package xds_test

import (
	"context"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// quietPeriod is how long a stream must stay silent after a NACK.
const quietPeriod = 2 * time.Second

// pickyClient rejects every response it gets on one ADS stream, at once,
// the way a gRPC client or an Envoy does with a resource it cannot use.
// It counts the responses and remembers their versions.
type pickyClient struct {
	mu       sync.Mutex
	versions []string
	// renack re-sends the last NACK once more (a duplicate a client may
	// send, e.g. when it re-requests); the server must count it, not log
	// it again, and not answer it.
	renack func()
}

func (c *pickyClient) got(version string) {
	c.mu.Lock()
	c.versions = append(c.versions, version)
	c.mu.Unlock()
}

func (c *pickyClient) responses() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.versions...)
}

// runPicky sends first, then NACKs every response recv returns with the
// request nackOf makes of it, until the stream ends. version reads a
// response's version.
func runPicky[Req, Resp any](send func(Req) error, recv func() (Resp, error), first Req,
	version func(Resp) string, nackOf func(Resp) Req) *pickyClient {
	var mu sync.Mutex // guards send and last
	var last Req
	c := &pickyClient{}
	c.renack = func() {
		mu.Lock()
		defer mu.Unlock()
		_ = send(last) // fails only once the test is over
	}
	mu.Lock()
	_ = send(first)
	mu.Unlock()
	go func() {
		for {
			resp, err := recv()
			if err != nil {
				return
			}
			c.got(version(resp))
			mu.Lock()
			last = nackOf(resp)
			_ = send(last)
			mu.Unlock()
		}
	}()
	return c
}

const nackDetail = "unsupported lb_policy (test)"

// startPickySotw subscribes to names of typeURL over state of the world.
// accepted is the version the client says it holds in every request ("" as
// a fresh client; a version from an earlier vigil process as an Envoy that
// reconnected after a restart).
func startPickySotw(t *testing.T, conn *grpc.ClientConn, typeURL string, names []string, accepted string) *pickyClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatalf("open ADS stream: %v", err)
	}
	return runPicky(stream.Send, stream.Recv,
		&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "picky-sotw", UserAgentName: "gRPC Go"},
			TypeUrl: typeURL, ResourceNames: names, VersionInfo: accepted},
		(*discoveryv3.DiscoveryResponse).GetVersionInfo,
		func(r *discoveryv3.DiscoveryResponse) *discoveryv3.DiscoveryRequest {
			return &discoveryv3.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: names, VersionInfo: accepted,
				ResponseNonce: r.GetNonce(), ErrorDetail: &statuspb.Status{Code: 3, Message: nackDetail}}
		})
}

// startPickyDelta is startPickySotw over the incremental protocol.
func startPickyDelta(t *testing.T, conn *grpc.ClientConn, typeURL string, names []string) *pickyClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatalf("open delta ADS stream: %v", err)
	}
	return runPicky(stream.Send, stream.Recv,
		&discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "picky-delta", UserAgentName: "envoy"},
			TypeUrl: typeURL, ResourceNamesSubscribe: names},
		(*discoveryv3.DeltaDiscoveryResponse).GetSystemVersionInfo,
		func(r *discoveryv3.DeltaDiscoveryResponse) *discoveryv3.DeltaDiscoveryRequest {
			return &discoveryv3.DeltaDiscoveryRequest{TypeUrl: typeURL, ResponseNonce: r.GetNonce(),
				ErrorDetail: &statuspb.Status{Code: 3, Message: nackDetail}}
		})
}

// After a NACK, vigil does not answer that stream for that type again until
// the resource's content changes; then it sends exactly the new version.
// Every NACK is counted, each rejected version is logged once.
func TestNACKedResourceIsNotResentUntilItChanges(t *testing.T) {
	type start func(t *testing.T, conn *grpc.ClientConn, typeURL string, names []string) *pickyClient
	sotw := func(accepted string) start {
		return func(t *testing.T, conn *grpc.ClientConn, typeURL string, names []string) *pickyClient {
			return startPickySotw(t, conn, typeURL, names, accepted)
		}
	}
	cases := []struct {
		name    string
		typeURL string
		start   start
	}{
		{"sotw cluster, fresh client", typeCluster, sotw("")},
		{"sotw cluster, client of an earlier vigil", typeCluster, sotw("0-earlier-vigil-7")},
		{"sotw assignment, fresh client", typeCLA, sotw("")},
		{"delta cluster", typeCluster, startPickyDelta},
		{"delta assignment", typeCLA, startPickyDelta},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture()
			srv, buf, metrics := startObservedServer(t, f.store)
			client := c.start(t, dial(t, srv.addr), c.typeURL, []string{"alpha"})
			nacks := func() int { return metrics.get(func(m *countingMetrics) int { return m.nacks[c.typeURL] }) }

			waitFor(t, "the first response and its NACK", func() bool { return nacks() >= 1 })
			time.Sleep(quietPeriod) // the loop, if any, shows here
			if got := client.responses(); len(got) != 1 {
				t.Fatalf("%d responses within %v of the first NACK (versions %v ...), want only the first",
					len(got), quietPeriod, got[:min(len(got), 3)])
			}
			client.renack()
			waitFor(t, "the repeated NACK counted", func() bool { return nacks() == 2 })

			// The content changes: exactly the new version, once.
			if c.typeURL == typeCluster {
				spec := *f.alpha
				spec.XDS.ConnectTimeout = 3 * time.Second
				f.store.PutCluster(&spec, []membership.Member{member("a", "10.0.0.1:80", membership.StatusHealthy)}, nil)
			} else {
				setStatus(t, f.store, "alpha", "a", membership.StatusDraining)
			}
			waitFor(t, "the changed resource", func() bool { return len(client.responses()) == 2 })
			waitFor(t, "its NACK counted", func() bool { return nacks() == 3 })
			time.Sleep(quietPeriod / 2)
			got := client.responses()
			if len(got) != 2 || got[0] == got[1] {
				t.Fatalf("after the change: responses with versions %v, want exactly one more, with a new version", got)
			}

			recs := nackLogs(buf)
			if len(recs) != 2 {
				t.Fatalf("%d NACK log records for 3 NACKs of 2 versions, want one per rejected version: %v", len(recs), recs)
			}
			for i, rec := range recs {
				if rec["rejected_version"] != got[i] || rec["error"] != nackDetail {
					t.Errorf("NACK record %d = %v, want rejected_version %s and the error detail", i, rec, got[i])
				}
			}
		})
	}
}

// A client that NACKs does not slow others down or change what they get.
func TestNACKingClientDoesNotAffectOthers(t *testing.T) {
	f := newFixture()
	srv, _, _ := startObservedServer(t, f.store)
	conn := dial(t, srv.addr)
	startPickySotw(t, conn, typeCluster, []string{"alpha"}, "")

	good := newSotw(t, conn, &corev3.Node{Id: "happy-envoy"})
	good.request(typeCluster, []string{"alpha"}, "", "", "")
	r := good.recvType(typeCluster)
	good.ack(r, []string{"alpha"})
	spec := &upstreams.Cluster{Name: "alpha", XDS: upstreams.XDSOptions{LBPolicy: "RING_HASH"}}
	f.store.PutCluster(spec, []membership.Member{member("a", "10.0.0.1:80", membership.StatusHealthy)}, nil)
	if r2 := good.recvType(typeCluster); r2.GetVersionInfo() == r.GetVersionInfo() {
		t.Errorf("the ACKing client got version %s again", r2.GetVersionInfo())
	}
}
