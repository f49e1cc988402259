package probe

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
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
// ClientConn of its own (connected lazily, reconnected by grpc-go), held
// under a kept slot of the fd budget. While the budget has no kept slot
// for it, each probe runs on a ClientConn of its own, closed after it,
// under a short-lived slot.
type grpcChecker struct {
	hostport string
	creds    credentials.TransportCredentials
	cc       *grpc.ClientConn
	client   grpc_health_v1.HealthClient
	keeper   keeper
	// fault is the last dial's local fault (nil after a dial that worked):
	// grpc-go reports a failed dial as an Unavailable RPC error, without
	// the cause, so the dialer keeps it to tell a skip from a failure.
	fault atomic.Pointer[LocalFault]

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

func newGRPCChecker(hostport string, tlsCfg *tls.Config, opts CheckerOptions) (*grpcChecker, error) {
	c := &grpcChecker{hostport: hostport, creds: insecure.NewCredentials(), keeper: keeper{budget: opts.Budget}}
	if tlsCfg != nil {
		c.creds = credentials.NewTLS(tlsCfg)
	}
	cc, err := c.newClient(false)
	if err != nil {
		return nil, err
	}
	c.cc, c.client = cc, grpc_health_v1.NewHealthClient(cc)
	return c, nil
}

// newClient builds a ClientConn to the checker's address; a short-lived
// one resets its connection when closed (see shortConn).
func (c *grpcChecker) newClient(short bool) (*grpc.ClientConn, error) {
	cc, err := grpc.NewClient(c.hostport,
		grpc.WithTransportCredentials(c.creds),
		grpc.WithUserAgent(userAgent),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: reconnectBackoff, MinConnectTimeout: time.Second}),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return c.dial(ctx, addr, short) }),
	)
	if err != nil {
		return nil, fmt.Errorf("new grpc checker for %s: %w", c.hostport, err)
	}
	return cc, nil
}

// dial connects for grpc-go, keeping a local fault for Check to find.
func (c *grpcChecker) dial(ctx context.Context, addr string, short bool) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		var fault *LocalFault
		if cause, local := Skipped(err); local {
			fault = &LocalFault{Cause: cause, Err: netErr("connect", 0, err)}
		}
		c.fault.Store(fault) // a failure of the target's own clears an older fault
		return nil, err
	}
	c.fault.Store(nil)
	if tc, ok := conn.(*net.TCPConn); ok && short {
		_ = tc.SetLinger(0) // best effort: without it the close leaves a TIME_WAIT socket
	}
	return conn, nil
}

// Stats reports probe counters (Dials stays 0: grpc-go owns connecting).
func (c *grpcChecker) Stats() Stats { return c.stats.snapshot() }

// Close shuts the ClientConn down and gives its fd budget slot back.
func (c *grpcChecker) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	err := c.cc.Close()
	c.keeper.release()
	return err
}

// Check calls Health/Check with the request's service name. SERVING is
// StatusCode 200; any other serving status is 503 with GRPCStatus set; an
// unknown service (NOT_FOUND) is 503 SERVICE_UNKNOWN; other RPC failures
// are resp.Err.
func (c *grpcChecker) Check(req *Request, deadline time.Time, _ *Scratch, resp *Response) {
	start := time.Now()
	c.stats.probes.Add(1)
	defer func() { c.stats.ended(resp.Err) }()
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
	short, err := c.keeper.hold()
	if err != nil {
		resp.Err = err
		return
	}
	client := c.client
	if short {
		cc, err := c.newClient(true)
		if err != nil {
			c.keeper.budget.Unshort()
			resp.Err = err
			return
		}
		c.stats.shortLived.Add(1)
		defer func() {
			_ = cc.Close() // a one-probe connection: nothing to lose
			c.keeper.budget.Unshort()
		}()
		client = grpc_health_v1.NewHealthClient(cc)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	out, err := client.Check(ctx, req.grpc)
	resp.Latency = time.Since(start)
	if err != nil {
		st := status.Convert(err)
		if lf := c.fault.Load(); lf != nil && st.Code() == codes.Unavailable {
			resp.Err = lf // the dial failed for want of vigil's own resources
			return
		}
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
