package fleet

import (
	"context"
	"errors"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// servingStatus is what grpc.health.v1 reports for the whole server ("")
// in state st.
func servingStatus(st State) healthpb.HealthCheckResponse_ServingStatus {
	switch st {
	case StateReady, StateDegraded, StateSlow:
		return healthpb.HealthCheckResponse_SERVING
	}
	return healthpb.HealthCheckResponse_NOT_SERVING
}

// serveGRPC starts a grpc.health.v1 server of the instance on ln. Called
// with in.mu held. Buffers are small: a prober sends tiny messages.
func (in *instance) serveGRPC(ln net.Listener) {
	gs := grpc.NewServer(
		grpc.ReadBufferSize(8<<10),
		grpc.WriteBufferSize(8<<10),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := in.slowWait(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := in.slowWait(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	)
	hs := health.NewServer()
	hs.SetServingStatus("", servingStatus(in.getState()))
	healthpb.RegisterHealthServer(gs, hs)
	in.gs, in.gln, in.hs = gs, ln, hs
	in.f.wg.Add(1)
	go func() {
		defer in.f.wg.Done()
		// down() closes ln itself, so a closed listener is a normal end too.
		if err := gs.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) && !errors.Is(err, net.ErrClosed) {
			in.f.log.Warn("fleet: grpc instance stopped serving", "id", in.id, "address", ln.Addr().String(), "err", err)
		}
	}()
}

// slowWait delays a slow instance's answer by the fleet's SlowDelay. It
// returns early with ctx's error, or when the fleet closes.
func (in *instance) slowWait(ctx context.Context) error {
	if in.getState() != StateSlow {
		return nil
	}
	t := time.NewTimer(in.f.spec.SlowDelay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-in.f.done:
		return errFleetClosed
	}
}
