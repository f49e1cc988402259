package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/vigilhq/vigil/membership"
)

// envoyWindow is Envoy's default HTTP/2 initial stream and connection
// window (http2_protocol_options).
const envoyWindow = 256 << 20

// edsType is the type URL of ClusterLoadAssignment.
const edsType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"

// adsChange is one endpoint's health as first seen in an assignment.
type adsChange struct {
	status membership.Status
	at     time.Time // when the response carrying it arrived
}

// adsWatcher holds one state-of-the-world ADS stream to vigil, subscribed
// to the assignments of every cluster, and records when each endpoint's
// health status changed.
type adsWatcher struct {
	mu        sync.Mutex
	health    map[string]membership.Status // endpoint host:port -> current status
	changes   map[string][]adsChange       // endpoint host:port -> changes, oldest first
	responses int
	seen      map[string]bool // clusters with an assignment so far
	clusters  int
	key       []byte // scratch for endpoint keys
}

type adsArrival struct {
	at   time.Time
	resp *discoveryv3.DiscoveryResponse
}

func newADSWatcher() *adsWatcher {
	return &adsWatcher{health: map[string]membership.Status{}, changes: map[string][]adsChange{}, seen: map[string]bool{}}
}

// run opens the stream and follows it until ctx ends. Responses are
// timestamped and ACKed as they arrive; decoding happens on another
// goroutine so a large assignment never delays the next arrival's time.
func (w *adsWatcher) run(ctx context.Context, addr string, clusters []string) error {
	w.mu.Lock()
	w.clusters = len(clusters)
	w.mu.Unlock()
	// Flow-control windows as large as Envoy's defaults (256 MiB per
	// stream and connection): grpc-go's 64 KiB would make vigil wait for
	// window updates in the middle of every large assignment, which an
	// Envoy watcher never does.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)),
		grpc.WithInitialWindowSize(envoyWindow), grpc.WithInitialConnWindowSize(envoyWindow))
	if err != nil {
		return fmt.Errorf("ads: dial %s: %w", addr, err)
	}
	defer conn.Close() //nolint:errcheck // the stream is over: nothing to lose
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return fmt.Errorf("ads: open stream: %w", err)
	}
	node := &corev3.Node{Id: "benchfleet", Cluster: "benchfleet", UserAgentName: "benchfleet"}
	req := &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: edsType, ResourceNames: clusters}
	if err := stream.Send(req); err != nil {
		return fmt.Errorf("ads: subscribe: %w", err)
	}
	arrivals := make(chan adsArrival, 1024)
	decoded := make(chan error, 1)
	go func() { decoded <- w.decodeAll(arrivals) }()
	recvErr := func() error {
		for {
			resp, err := stream.Recv()
			at := time.Now()
			if err != nil {
				return err
			}
			ack := &discoveryv3.DiscoveryRequest{TypeUrl: edsType, ResourceNames: clusters,
				VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}
			if err := stream.Send(ack); err != nil {
				return fmt.Errorf("ads: ack: %w", err)
			}
			select {
			case arrivals <- adsArrival{at: at, resp: resp}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}()
	close(arrivals)
	decErr := <-decoded
	if ctx.Err() != nil && (errors.Is(recvErr, context.Canceled) || status.Code(recvErr) == codes.Canceled || errors.Is(recvErr, io.EOF)) {
		recvErr = nil
	}
	return errors.Join(recvErr, decErr)
}

func (w *adsWatcher) decodeAll(arrivals <-chan adsArrival) error {
	var first error
	for a := range arrivals {
		if err := w.decode(a); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (w *adsWatcher) decode(a adsArrival) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.responses++
	for _, res := range a.resp.GetResources() {
		if res.GetTypeUrl() != edsType {
			return fmt.Errorf("ads: got a %s", res.GetTypeUrl())
		}
		cluster, err := scanAssignment(res.GetValue(), func(ep wireEndpoint) {
			w.key = appendEndpointKey(w.key[:0], ep.host, ep.port)
			st := membership.Status(ep.health) // same numbering as Envoy's, on purpose
			if cur, ok := w.health[string(w.key)]; ok && cur == st {
				return
			}
			key := string(w.key)
			w.health[key] = st
			w.changes[key] = append(w.changes[key], adsChange{status: st, at: a.at})
		})
		if err != nil {
			return fmt.Errorf("ads: decode assignment: %w", err)
		}
		w.seen[cluster] = true
	}
	return nil
}

// appendEndpointKey appends host:port as net.JoinHostPort writes it.
func appendEndpointKey(b, host []byte, port uint32) []byte {
	if bytes.IndexByte(host, ':') >= 0 {
		b = append(append(append(b, '['), host...), ']')
	} else {
		b = append(b, host...)
	}
	return strconv.AppendUint(append(b, ':'), uint64(port), 10)
}

// complete reports whether every cluster has been received at least once.
func (w *adsWatcher) complete() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.clusters > 0 && len(w.seen) >= w.clusters
}

// arrival returns when the watcher first saw addr change after t, and
// whether that change was to want (false: the next change seen was
// another status, or none came).
func (w *adsWatcher) arrival(addr string, after time.Time, want membership.Status) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.changes[addr] {
		if c.at.Before(after) {
			continue
		}
		return c.at, c.status == want
	}
	return time.Time{}, false
}

func (w *adsWatcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.responses
}
