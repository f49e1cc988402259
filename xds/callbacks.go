package xds

import (
	"context"
	"log/slog"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
)

// callbacks drives Metrics from go-control-plane's stream callbacks and
// logs NACKs. No callback ever returns an error: a client's NACK is its
// own business and must not end its stream, let alone anyone else's.
type callbacks struct {
	log     *slog.Logger
	metrics Metrics

	mu sync.Mutex
	// What each open stream said and was sent. SotW and delta number
	// their streams separately.
	sotw, delta map[int64]*streamState
}

// streamState is what the callbacks remember of one stream: its node
// (a delta stream's later requests omit it), its type when it is not ADS
// (a delta stream's requests may omit that too), the last response of each
// type (a NACK names the response it rejects only by its nonce) and, per
// type, the rejected version last logged, so that a version is logged
// once however often the stream rejects it.
type streamState struct {
	node     string
	typeURL  string                  // "" on ADS streams
	sent     map[string]sentResponse // by type URL
	rejected map[string]string       // by type URL: the rejection last logged
}

type sentResponse struct{ nonce, version string }

var _ serverv3.Callbacks = (*callbacks)(nil)

func newCallbacks(log *slog.Logger, m Metrics) *callbacks {
	return &callbacks{log: log, metrics: m, sotw: map[int64]*streamState{}, delta: map[int64]*streamState{}}
}

func (c *callbacks) opened(streams map[int64]*streamState, id int64, typeURL string) {
	if typeURL == resource.AnyType {
		typeURL = ""
	}
	c.mu.Lock()
	streams[id] = &streamState{typeURL: typeURL, sent: map[string]sentResponse{}, rejected: map[string]string{}}
	c.mu.Unlock()
	if c.metrics != nil {
		c.metrics.StreamOpened()
	}
}

func (c *callbacks) closed(streams map[int64]*streamState, id int64) {
	c.mu.Lock()
	delete(streams, id)
	c.mu.Unlock()
	if c.metrics != nil {
		c.metrics.StreamClosed()
	}
}

// streamRequest is what the callbacks read from a SotW or delta request.
type streamRequest struct {
	node                     *corev3.Node
	typeURL, accepted, nonce string
	nack                     bool
	detail                   string
}

// request notes the node of a stream's request and handles a NACK: every
// NACK is counted; the first NACK of a version on a stream is logged as a
// warning, repeats of it at debug level.
func (c *callbacks) request(streams map[int64]*streamState, id int64, delta bool, r streamRequest) {
	c.mu.Lock()
	st := streams[id]
	if st == nil { // OnStreamOpen comes first; a stream without it is still served
		st = &streamState{sent: map[string]sentResponse{}, rejected: map[string]string{}}
		streams[id] = st
	}
	if n := r.node.GetId(); n != "" {
		st.node = n
	}
	node, typeURL := st.node, r.typeURL
	if typeURL == "" {
		typeURL = st.typeURL
	}
	var rejected string
	first := false
	if r.nack {
		if s := st.sent[typeURL]; s.nonce == r.nonce {
			rejected = s.version
		}
		key := rejected
		if key == "" { // a NACK of an older response: known by its nonce only
			key = "nonce " + r.nonce
		}
		first = st.rejected[typeURL] != key
		st.rejected[typeURL] = key
	}
	c.mu.Unlock()
	if !r.nack {
		return
	}
	if c.metrics != nil {
		c.metrics.NACK(typeURL)
	}
	level := slog.LevelDebug
	if first {
		level = slog.LevelWarn
	}
	c.log.Log(context.Background(), level, "xds: client rejected a response (NACK)",
		"node", node, "type", typeURL, "error", r.detail, "rejected_version", rejected,
		"accepted_version", r.accepted, "nonce", r.nonce, "stream", id, "delta", delta)
}

// sent remembers a stream's latest response of a type and counts it.
func (c *callbacks) sent(streams map[int64]*streamState, id int64, typeURL, nonce, version string) {
	c.mu.Lock()
	if st := streams[id]; st != nil {
		st.sent[typeURL] = sentResponse{nonce: nonce, version: version}
	}
	c.mu.Unlock()
	if c.metrics != nil {
		c.metrics.Pushed(typeURL)
	}
}

// OnStreamOpen counts a SotW stream.
func (c *callbacks) OnStreamOpen(_ context.Context, id int64, typeURL string) error {
	c.opened(c.sotw, id, typeURL)
	return nil
}

// OnStreamClosed counts a SotW stream's end.
func (c *callbacks) OnStreamClosed(id int64, _ *corev3.Node) { c.closed(c.sotw, id) }

// OnStreamRequest logs and counts NACKs.
func (c *callbacks) OnStreamRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	c.request(c.sotw, id, false, streamRequest{node: req.GetNode(), typeURL: req.GetTypeUrl(),
		accepted: req.GetVersionInfo(), nonce: req.GetResponseNonce(),
		nack: req.GetErrorDetail() != nil, detail: req.GetErrorDetail().GetMessage()})
	return nil
}

// OnStreamResponse counts a push.
func (c *callbacks) OnStreamResponse(_ context.Context, id int64, _ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
	c.sent(c.sotw, id, resp.GetTypeUrl(), resp.GetNonce(), resp.GetVersionInfo())
}

// OnDeltaStreamOpen counts a delta stream.
func (c *callbacks) OnDeltaStreamOpen(_ context.Context, id int64, typeURL string) error {
	c.opened(c.delta, id, typeURL)
	return nil
}

// OnDeltaStreamClosed counts a delta stream's end.
func (c *callbacks) OnDeltaStreamClosed(id int64, _ *corev3.Node) { c.closed(c.delta, id) }

// OnStreamDeltaRequest logs and counts NACKs.
func (c *callbacks) OnStreamDeltaRequest(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
	c.request(c.delta, id, true, streamRequest{node: req.GetNode(), typeURL: req.GetTypeUrl(),
		nonce: req.GetResponseNonce(), nack: req.GetErrorDetail() != nil, detail: req.GetErrorDetail().GetMessage()})
	return nil
}

// OnStreamDeltaResponse counts a push.
func (c *callbacks) OnStreamDeltaResponse(id int64, _ *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
	c.sent(c.delta, id, resp.GetTypeUrl(), resp.GetNonce(), resp.GetSystemVersionInfo())
}

// OnFetchRequest is unused: vigil serves no REST xDS.
func (c *callbacks) OnFetchRequest(context.Context, *discoveryv3.DiscoveryRequest) error { return nil }

// OnFetchResponse is unused: vigil serves no REST xDS.
func (c *callbacks) OnFetchResponse(*discoveryv3.DiscoveryRequest, *discoveryv3.DiscoveryResponse) {}
