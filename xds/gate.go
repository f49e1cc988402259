package xds

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// gate holds every xDS call until the server opens it: a client that
// connects meanwhile is connected, but its requests wait unanswered. The
// server opens the gate once Options.HoldUntil has closed and the caches
// hold the store as it was then, so a client reconnecting to a restarted
// vigil is first answered with verdicts, never with initial statuses.
type gate struct {
	open     chan struct{}
	shutdown <-chan struct{} // the server is stopping: held calls end
}

func newGate(shutdown <-chan struct{}) *gate {
	return &gate{open: make(chan struct{}), shutdown: shutdown}
}

// wait returns nil once the gate is open, or an error when the call or the
// server ends first.
func (g *gate) wait(ctx context.Context) error {
	select {
	case <-g.open:
		return nil
	default:
	}
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	case <-g.shutdown:
		return status.Error(codes.Unavailable, "xds: vigil is stopping")
	}
}

func (g *gate) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := g.wait(ss.Context()); err != nil {
		return err
	}
	return handler(srv, ss)
}

func (g *gate) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := g.wait(ctx); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}
