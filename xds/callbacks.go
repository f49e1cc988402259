package xds

import (
	"context"
	"log/slog"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
)

// callbacks drives Metrics from go-control-plane's stream callbacks and
// logs NACKs. No callback ever returns an error: a client's NACK is its
// own business and must not end its stream, let alone anyone else's.
type callbacks struct {
	log     *slog.Logger
	metrics Metrics

	mu sync.Mutex
	// Node IDs by stream, to name the node of a NACK on a delta stream
	// whose later requests omit the node. SotW and delta number their
	// streams separately.
	sotwNodes, deltaNodes map[int64]string
}

var _ serverv3.Callbacks = (*callbacks)(nil)

func newCallbacks(log *slog.Logger, m Metrics) *callbacks {
	return &callbacks{log: log, metrics: m, sotwNodes: map[int64]string{}, deltaNodes: map[int64]string{}}
}

func (c *callbacks) opened() {
	if c.metrics != nil {
		c.metrics.StreamOpened()
	}
}

func (c *callbacks) closed(nodes map[int64]string, id int64) {
	c.mu.Lock()
	delete(nodes, id)
	c.mu.Unlock()
	if c.metrics != nil {
		c.metrics.StreamClosed()
	}
}

// nodeID remembers the node of a stream the first time a request names it.
func (c *callbacks) nodeID(nodes map[int64]string, id int64, n *corev3.Node) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n.GetId() != "" {
		nodes[id] = n.GetId()
	}
	return nodes[id]
}

func (c *callbacks) nack(stream int64, delta bool, node, typeURL, version, nonce string, detail string) {
	if c.metrics != nil {
		c.metrics.NACK(typeURL)
	}
	c.log.Warn("xds: client rejected a response (NACK)",
		"node", node, "type", typeURL, "error", detail,
		"version", version, "nonce", nonce, "stream", stream, "delta", delta)
}

func (c *callbacks) pushed(typeURL string) {
	if c.metrics != nil {
		c.metrics.Pushed(typeURL)
	}
}

// OnStreamOpen counts a SotW stream.
func (c *callbacks) OnStreamOpen(context.Context, int64, string) error {
	c.opened()
	return nil
}

// OnStreamClosed counts a SotW stream's end.
func (c *callbacks) OnStreamClosed(id int64, _ *corev3.Node) { c.closed(c.sotwNodes, id) }

// OnStreamRequest logs NACKs.
func (c *callbacks) OnStreamRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	node := c.nodeID(c.sotwNodes, id, req.GetNode())
	if d := req.GetErrorDetail(); d != nil {
		c.nack(id, false, node, req.GetTypeUrl(), req.GetVersionInfo(), req.GetResponseNonce(), d.GetMessage())
	}
	return nil
}

// OnStreamResponse counts a push.
func (c *callbacks) OnStreamResponse(_ context.Context, _ int64, _ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
	c.pushed(resp.GetTypeUrl())
}

// OnDeltaStreamOpen counts a delta stream.
func (c *callbacks) OnDeltaStreamOpen(context.Context, int64, string) error {
	c.opened()
	return nil
}

// OnDeltaStreamClosed counts a delta stream's end.
func (c *callbacks) OnDeltaStreamClosed(id int64, _ *corev3.Node) { c.closed(c.deltaNodes, id) }

// OnStreamDeltaRequest logs NACKs.
func (c *callbacks) OnStreamDeltaRequest(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
	node := c.nodeID(c.deltaNodes, id, req.GetNode())
	if d := req.GetErrorDetail(); d != nil {
		c.nack(id, true, node, req.GetTypeUrl(), "", req.GetResponseNonce(), d.GetMessage())
	}
	return nil
}

// OnStreamDeltaResponse counts a push.
func (c *callbacks) OnStreamDeltaResponse(_ int64, _ *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
	c.pushed(resp.GetTypeUrl())
}

// OnFetchRequest is unused: vigil serves no REST xDS.
func (c *callbacks) OnFetchRequest(context.Context, *discoveryv3.DiscoveryRequest) error { return nil }

// OnFetchResponse is unused: vigil serves no REST xDS.
func (c *callbacks) OnFetchResponse(*discoveryv3.DiscoveryRequest, *discoveryv3.DiscoveryResponse) {}
