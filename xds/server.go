package xds

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoveryservice "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	sotw "github.com/envoyproxy/go-control-plane/pkg/server/sotw/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/vigilhq/vigil/membership"
)

// Server publishes a Store's membership over xDS. Create it with New and
// call Run once.
type Server struct {
	store   *membership.Store
	opts    Options
	log     *slog.Logger
	prefix  string
	caches  *caches
	pub     *publisher
	serving atomic.Bool
	started atomic.Bool
}

// New returns a Server that will publish store. Nothing is served until Run.
func New(store *membership.Store, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = 5 * time.Second
	}
	prefix := opts.VersionPrefix
	if prefix == "" {
		prefix = newVersionPrefix()
	}
	log := opts.Logger.With("component", "xds")
	c := newCaches(prefix, slogAdapter{log})
	return &Server{
		store:  store,
		opts:   opts,
		log:    log,
		prefix: prefix,
		caches: c,
		pub:    newPublisher(c, opts.GRPCListeners),
	}
}

// newVersionPrefix is unique to each start: the start time and random bits,
// so a client that reconnects after a restart never holds a version that the
// new process would consider current.
func newVersionPrefix() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + hex.EncodeToString(b[:]) + "-"
}

// VersionPrefix is the prefix of every version this Server sends.
func (s *Server) VersionPrefix() string { return s.prefix }

// Serving reports whether the server holds the store's state and accepts
// xDS streams: true from Run's first publication until its shutdown.
func (s *Server) Serving() bool { return s.serving.Load() }

// Run publishes the store's current state, serves ADS (SotW and delta), CDS,
// EDS, LDS and RDS on lis, and follows every store change until ctx ends.
// Then it ends every xDS stream (clients reconnect, to this address once a
// new vigil listens there), stops the gRPC server gracefully (bounded by
// Options.ShutdownGrace), closes lis and returns nil. It returns an error if
// serving fails, if lis is nil, or if called more than once.
func (s *Server) Run(ctx context.Context, lis net.Listener) error {
	if lis == nil {
		return errors.New("xds: no listener")
	}
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("xds: Run called more than once")
	}
	sub := s.store.Subscribe(1) // events are not needed: snapshots are never dropped
	defer sub.Close()
	s.publish(sub.Next())

	// Streams get their own context so shutdown can end them before the
	// graceful stop, which would otherwise wait for them forever.
	streamCtx, endStreams := context.WithCancel(context.WithoutCancel(ctx))
	defer endStreams()
	gate := newGate(streamCtx.Done())
	hold := s.opts.HoldUntil
	if hold == nil {
		close(gate.open)
	}
	xdsServer := serverv3.NewServer(streamCtx, s.caches.mux, newCallbacks(s.log, s.opts.Metrics),
		sotw.WithLogger(slogAdapter{s.log}),
		sotw.DeactivateLegacyWildcardForTypes(noLegacyWildcardTypes))
	gs := grpc.NewServer(append([]grpc.ServerOption{
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.ChainStreamInterceptor(gate.stream), grpc.ChainUnaryInterceptor(gate.unary),
	}, s.opts.GRPCServerOptions...)...)
	discoveryservice.RegisterAggregatedDiscoveryServiceServer(gs, xdsServer)
	endpointservice.RegisterEndpointDiscoveryServiceServer(gs, xdsServer)
	clusterservice.RegisterClusterDiscoveryServiceServer(gs, xdsServer)
	listenerservice.RegisterListenerDiscoveryServiceServer(gs, xdsServer)
	routeservice.RegisterRouteDiscoveryServiceServer(gs, xdsServer)

	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	s.serving.Store(true)
	s.log.Info("xds: serving", "address", lis.Addr().String(), "version_prefix", s.prefix,
		"clusters", len(s.pub.state), "grpc_listeners", s.opts.GRPCListeners, "holding", hold != nil)

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-served:
			served <- err // for the shutdown below
			runErr = fmt.Errorf("xds: serving on %s: %w", lis.Addr(), err)
			break loop
		case <-sub.C():
			s.publish(sub.Next())
		case <-hold:
			// Publish what the store holds now, then answer: the held
			// requests get the state that ended the hold, or newer.
			hold = nil
			s.publish(sub.Next())
			close(gate.open)
			s.log.Info("xds: every instance has a verdict: answering requests", "clusters", len(s.pub.state))
		}
	}

	s.serving.Store(false)
	endStreams()
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	timer := time.NewTimer(s.opts.ShutdownGrace)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		s.log.Warn("xds: graceful stop timed out, closing connections", "grace", s.opts.ShutdownGrace)
		gs.Stop()
		<-stopped
	}
	<-served //nolint:errcheck // nil after the stop above, or the error already in runErr
	s.log.Info("xds: stopped")
	return runErr
}

// noLegacyWildcardTypes are the types no client ever subscribes to by
// sending an empty request; Envoy's CDS and LDS still do, and for those
// noLegacyWildcardForGRPC turns legacy wildcard off for gRPC clients only.
var noLegacyWildcardTypes = []string{
	resource.EndpointType, resource.RouteType, resource.ScopedRouteType, resource.VirtualHostType,
	resource.SecretType, resource.RuntimeType, resource.ExtensionConfigType,
}

// publish applies one store batch to the caches.
func (s *Server) publish(b membership.Batch) {
	if len(b.Changed) == 0 && len(b.Removed) == 0 {
		return
	}
	res, err := s.pub.apply(b)
	if err != nil {
		s.log.Error("xds: updating caches", "store_version", b.Version, "error", err)
	}
	s.log.Debug("xds: published", "store_version", b.Version, "changed", len(b.Changed), "removed", len(b.Removed),
		"endpoints", res.Endpoints, "clusters", res.Clusters, "listeners", res.Listeners, "routes", res.Routes)
}
