package xds

import (
	"log/slog"
	"time"

	"google.golang.org/grpc"
)

// Metrics receives the server's counters. Implementations must be cheap,
// safe for concurrent use, and must not block.
type Metrics interface {
	StreamOpened()         // an xDS stream (SotW or delta, any service) opened
	StreamClosed()         // an xDS stream closed
	Pushed(typeURL string) // a response of this type was sent on a stream
	NACK(typeURL string)   // a client rejected a response of this type
}

// Options configure a Server. Start from DefaultOptions.
type Options struct {
	// Logger receives NACKs, lifecycle and go-control-plane's own logs
	// (its info logs at debug level). nil: slog.Default().
	Logger *slog.Logger
	// Metrics is told about streams, pushes and NACKs. nil: none.
	Metrics Metrics
	// GRPCListeners also publishes, per cluster, a Listener with an
	// ApiListener and a RouteConfiguration for proxyless gRPC clients
	// dialing xds:///<cluster>. DefaultOptions turns it on.
	GRPCListeners bool
	// VersionPrefix starts every version vigil sends. Empty: a value unique
	// to this Server, so clients reconnecting after a restart never see a
	// version they already hold.
	VersionPrefix string
	// ShutdownGrace bounds the graceful stop of the gRPC server once Run's
	// context ends; then remaining connections are closed. 0: 5s.
	ShutdownGrace time.Duration
	// GRPCServerOptions are added to the server's own (keepalive) options.
	GRPCServerOptions []grpc.ServerOption
	// HoldUntil, when set, holds every xDS request unanswered until it is
	// closed; then the store as it is at that moment is published and the
	// held requests are answered. Pass what closes once every instance has
	// a verdict (the aggregator's first probe round, which restored
	// verdicts complete at once), so that no client ever sees the initial
	// statuses of a vigil that just started. nil: no hold.
	HoldUntil <-chan struct{}
}

// DefaultOptions returns the options vigil runs with unless configured
// otherwise: gRPC listeners on, everything else defaulted.
func DefaultOptions() Options {
	return Options{GRPCListeners: true}
}
