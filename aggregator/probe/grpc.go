package probe

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/vigilhq/vigil/upstreams"
)

// grpcChecker probes one address with grpc.health.v1 Health/Check over a
// ClientConn of its own (connected lazily, reconnected by grpc-go).
type grpcChecker struct {
	hostport string
	cc       *grpc.ClientConn
	client   grpc_health_v1.HealthClient

	mu     sync.Mutex
	closed bool

	stats counters
}

// reconnectBackoff keeps grpc-go from backing off for minutes after an
// instance was down: probes run every second or so and must see recovery.
var reconnectBackoff = backoff.Config{
	BaseDelay:  100 * time.Millisecond,
	Multiplier: 1.6,
	Jitter:     0.2,
	MaxDelay:   time.Second,
}

func newGRPCChecker(hostport string, tlsCfg *tls.Config) (*grpcChecker, error) {
	creds := insecure.NewCredentials()
	if tlsCfg != nil {
		creds = credentials.NewTLS(tlsCfg)
	}
	cc, err := grpc.NewClient(hostport,
		grpc.WithTransportCredentials(creds),
		grpc.WithUserAgent(userAgent),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: reconnectBackoff, MinConnectTimeout: time.Second}),
	)
	if err != nil {
		return nil, fmt.Errorf("new grpc checker for %s: %w", hostport, err)
	}
	return &grpcChecker{hostport: hostport, cc: cc, client: grpc_health_v1.NewHealthClient(cc)}, nil
}

// Stats reports probe counters (Dials stays 0: grpc-go owns connecting).
func (c *grpcChecker) Stats() Stats { return c.stats.snapshot() }

// Close shuts the ClientConn down.
func (c *grpcChecker) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return c.cc.Close()
}

// Check calls Health/Check with the request's service name. SERVING is
// StatusCode 200; any other serving status is 503 with GRPCStatus set; an
// unknown service (NOT_FOUND) is 503 SERVICE_UNKNOWN; other RPC failures
// are resp.Err.
func (c *grpcChecker) Check(req *Request, deadline time.Time, _ *Scratch, resp *Response) {
	start := time.Now()
	c.stats.probes.Add(1)
	defer func() {
		if resp.Err != nil {
			c.stats.failures.Add(1)
		}
	}()
	if req == nil || req.kind != upstreams.KindGRPC {
		resp.Err = fmt.Errorf("grpc checker for %s: got a %s request", c.hostport, kindOf(req))
		return
	}
	budget := deadline.Sub(start)
	if budget <= 0 {
		resp.Err = timeoutErr(0, "before the probe started", nil)
		return
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		resp.Err = errClosed
		return
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	out, err := c.client.Check(ctx, req.grpc)
	resp.Latency = time.Since(start)
	if err != nil {
		st := status.Convert(err)
		switch st.Code() {
		case codes.NotFound:
			resp.StatusCode = 503
			resp.GRPCStatus = grpc_health_v1.HealthCheckResponse_SERVICE_UNKNOWN.String()
		case codes.DeadlineExceeded:
			resp.Err = timeoutErr(budget, "awaiting grpc health response", err)
		case codes.Canceled:
			resp.Err = &probeError{msg: "grpc health: " + errClosed.Error(), cause: err}
		default:
			resp.Err = &probeError{msg: fmt.Sprintf("grpc health: %s: %s", st.Code(), st.Message()), cause: err}
		}
		return
	}
	resp.GRPCStatus = out.GetStatus().String()
	if out.GetStatus() == grpc_health_v1.HealthCheckResponse_SERVING {
		resp.StatusCode = 200
	} else {
		resp.StatusCode = 503
	}
}
