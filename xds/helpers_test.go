package xds_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/vigilhq/vigil/internal/runtest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
	"github.com/vigilhq/vigil/xds"
)

// waitTimeout bounds every wait for something to happen: generous, because
// the machine is shared and the race detector is slow.
const waitTimeout = 20 * time.Second

// Type URLs used by the tests.
const (
	typeCLA      = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	typeCluster  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	typeListener = "type.googleapis.com/envoy.config.listener.v3.Listener"
	typeRoute    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
)

func member(id, addr string, st membership.Status) membership.Member {
	return membership.Member{
		Instance: upstreams.Instance{ID: id, Address: addr, Weight: 1, Source: "config"},
		Status:   st,
		Reason:   "test: " + st.String(),
		Since:    time.Unix(1700000000, 0),
	}
}

// setStatus publishes a new status for one instance, as the aggregator does.
func setStatus(t *testing.T, store *membership.Store, cluster, id string, st membership.Status) {
	t.Helper()
	ok := store.UpdateMember(cluster, id, func(m *membership.Member) (*membership.Event, bool) {
		if m.Status == st {
			return nil, false
		}
		ev := &membership.Event{Kind: membership.EventTransition, Cluster: cluster, Instance: id,
			Address: m.Address, From: m.Status, To: st, Reason: "test: " + st.String()}
		m.Status, m.Reason, m.Since = st, "test: "+st.String(), time.Now()
		return ev, true
	})
	if !ok {
		t.Fatalf("store did not change %s/%s to %s", cluster, id, st)
	}
}

// testServer is a running xds.Server on a loopback port.
type testServer struct {
	srv  *xds.Server
	addr string
	stop func()
}

// startServer runs an xds.Server on addr ("" for any free loopback port)
// until stop or the end of the test.
func startServer(t *testing.T, store *membership.Store, opts xds.Options, addr string) *testServer {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lis net.Listener
	var err error
	deadline := time.Now().Add(waitTimeout)
	for {
		// A port just freed by a stopped server may linger briefly.
		if lis, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := xds.New(store, opts)
	stop := runtest.Start(t, func(ctx context.Context) error { return srv.Run(ctx, lis) }, func() {
		if srv.Serving() {
			t.Errorf("Serving() still true after Run returned")
		}
	})
	waitFor(t, "server serving", srv.Serving)
	return &testServer{srv: srv, addr: lis.Addr().String(), stop: stop}
}

// startObservedServer is startServer with default options whose logs and
// metrics the test reads.
func startObservedServer(t *testing.T, store *membership.Store) (*testServer, *lockedBuffer, *countingMetrics) {
	t.Helper()
	logger, buf := testLogger()
	metrics := newCountingMetrics()
	opts := xds.DefaultOptions()
	opts.Logger, opts.Metrics = logger, metrics
	return startServer(t, store, opts, ""), buf, metrics
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// sotwClient is a raw state-of-the-world ADS client.
type sotwClient struct {
	t      *testing.T
	node   *corev3.Node
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	resps  chan *discoveryv3.DiscoveryResponse
	done   chan error
	first  bool
}

// pump forwards every response recv returns into resps until it fails;
// then it reports the error on done and closes resps.
func pump[T any](recv func() (T, error), resps chan<- T, done chan<- error) {
	for {
		r, err := recv()
		if err != nil {
			done <- err
			close(resps)
			return
		}
		resps <- r
	}
}

func newSotw(t *testing.T, conn *grpc.ClientConn, node *corev3.Node) *sotwClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatalf("open ADS stream: %v", err)
	}
	c := &sotwClient{t: t, node: node, stream: stream, resps: make(chan *discoveryv3.DiscoveryResponse, 64),
		done: make(chan error, 1), first: true}
	go pump(stream.Recv, c.resps, c.done)
	return c
}

// request sends a DiscoveryRequest. version and nonce are those of the
// response being acknowledged ("" on a first request); nack != "" rejects it.
func (c *sotwClient) request(typeURL string, names []string, version, nonce, nack string) {
	c.t.Helper()
	req := &discoveryv3.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: names, VersionInfo: version, ResponseNonce: nonce}
	if c.first {
		req.Node, c.first = c.node, false
	}
	if nack != "" {
		req.ErrorDetail = &statuspb.Status{Code: 3, Message: nack}
	}
	if err := c.stream.Send(req); err != nil {
		c.t.Fatalf("send %s request: %v", typeURL, err)
	}
}

// ack acknowledges r, keeping the subscription to names.
func (c *sotwClient) ack(r *discoveryv3.DiscoveryResponse, names []string) {
	c.t.Helper()
	c.request(r.GetTypeUrl(), names, r.GetVersionInfo(), r.GetNonce(), "")
}

// recv returns the next response, failing the test after waitTimeout.
func (c *sotwClient) recv() *discoveryv3.DiscoveryResponse {
	c.t.Helper()
	select {
	case r, ok := <-c.resps:
		if !ok {
			c.t.Fatalf("ADS stream ended: %v", <-c.done)
		}
		return r
	case <-time.After(waitTimeout):
		c.t.Fatalf("no ADS response within %v", waitTimeout)
	}
	return nil
}

// recvType is recv that also checks the response's type.
func (c *sotwClient) recvType(typeURL string) *discoveryv3.DiscoveryResponse {
	c.t.Helper()
	r := c.recv()
	if r.GetTypeUrl() != typeURL {
		c.t.Fatalf("got a %s response, want %s", r.GetTypeUrl(), typeURL)
	}
	return r
}

// deltaClient is a raw incremental ADS client.
type deltaClient struct {
	t      *testing.T
	node   *corev3.Node
	stream discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	resps  chan *discoveryv3.DeltaDiscoveryResponse
	done   chan error
	first  bool
}

func newDelta(t *testing.T, conn *grpc.ClientConn, node *corev3.Node) *deltaClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatalf("open delta ADS stream: %v", err)
	}
	c := &deltaClient{t: t, node: node, stream: stream, resps: make(chan *discoveryv3.DeltaDiscoveryResponse, 64),
		done: make(chan error, 1), first: true}
	go pump(stream.Recv, c.resps, c.done)
	return c
}

func (c *deltaClient) send(req *discoveryv3.DeltaDiscoveryRequest) {
	c.t.Helper()
	if c.first {
		req.Node, c.first = c.node, false
	}
	if err := c.stream.Send(req); err != nil {
		c.t.Fatalf("send delta %s request: %v", req.GetTypeUrl(), err)
	}
}

func (c *deltaClient) subscribe(typeURL string, names ...string) {
	c.t.Helper()
	c.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: typeURL, ResourceNamesSubscribe: names})
}

func (c *deltaClient) ack(r *discoveryv3.DeltaDiscoveryResponse) {
	c.t.Helper()
	c.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: r.GetTypeUrl(), ResponseNonce: r.GetNonce()})
}

func (c *deltaClient) recv() *discoveryv3.DeltaDiscoveryResponse {
	c.t.Helper()
	select {
	case r, ok := <-c.resps:
		if !ok {
			c.t.Fatalf("delta ADS stream ended: %v", <-c.done)
		}
		return r
	case <-time.After(waitTimeout):
		c.t.Fatalf("no delta ADS response within %v", waitTimeout)
	}
	return nil
}

func (c *deltaClient) recvType(typeURL string) *discoveryv3.DeltaDiscoveryResponse {
	c.t.Helper()
	r := c.recv()
	if r.GetTypeUrl() != typeURL {
		c.t.Fatalf("got a delta %s response, want %s", r.GetTypeUrl(), typeURL)
	}
	return r
}

// lockedBuffer collects log output from concurrent goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testLogger logs JSON into a buffer the test can read.
func testLogger() (*slog.Logger, *lockedBuffer) {
	buf := &lockedBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo})), buf
}

// countingMetrics is an xds.Metrics that counts, for assertions.
type countingMetrics struct {
	mu             sync.Mutex
	opened, closed int
	pushed, nacks  map[string]int
}

func newCountingMetrics() *countingMetrics {
	return &countingMetrics{pushed: map[string]int{}, nacks: map[string]int{}}
}

func (m *countingMetrics) StreamOpened() { m.mu.Lock(); m.opened++; m.mu.Unlock() }
func (m *countingMetrics) StreamClosed() { m.mu.Lock(); m.closed++; m.mu.Unlock() }
func (m *countingMetrics) Pushed(typeURL string) {
	m.mu.Lock()
	m.pushed[typeURL]++
	m.mu.Unlock()
}
func (m *countingMetrics) NACK(typeURL string) {
	m.mu.Lock()
	m.nacks[typeURL]++
	m.mu.Unlock()
}

func (m *countingMetrics) get(f func(*countingMetrics) int) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return f(m)
}
