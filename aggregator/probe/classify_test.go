package probe

import (
	"bufio"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/vigilhq/vigil/upstreams"
)

// Errors shaped the way the checkers build them, one per class of cause.
func TestClassifyErrors(t *testing.T) {
	opErr := func(op string, errno error) error {
		return &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(op, errno)}
	}
	cases := []struct {
		name string
		err  error
		want Reach
	}{
		{"no error", nil, Answered},
		{"refused", netErr("connect", time.Second, opErr("dial", syscall.ECONNREFUSED)), Unreachable},
		{"reset while reading", netErr("read response", time.Second, opErr("read", syscall.ECONNRESET)), Unreachable},
		{"broken pipe", netErr("write request", time.Second, opErr("write", syscall.EPIPE)), Unreachable},
		{"no route", netErr("connect", time.Second, opErr("dial", syscall.EHOSTUNREACH)), Unreachable},
		{"network unreachable", netErr("connect", time.Second, opErr("dial", syscall.ENETUNREACH)), Unreachable},
		{"network down", netErr("connect", time.Second, opErr("dial", syscall.ENETDOWN)), Unreachable},
		{"kernel timeout", netErr("connect", time.Second, opErr("dial", syscall.ETIMEDOUT)), Unreachable},
		{"deadline", netErr("read response", time.Second, os.ErrDeadlineExceeded), Unreachable},
		{"not started in time", timeoutErr(0, "before the probe started", nil), Unreachable},
		{"dns", netErr("connect", time.Second, &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "x"}}), Unreachable},
		{"closed before an answer", netErr("read response", time.Second, io.EOF), Unreachable},
		{"closed in the headers", netErr("read response", time.Second, io.ErrUnexpectedEOF), Unreachable},
		{"closed in the body", netErr(phaseReadBody, time.Second, io.ErrUnexpectedEOF), Answered},
		{"timeout in the body", netErr(phaseReadBody, time.Second, os.ErrDeadlineExceeded), Unreachable},
		{"grpc unavailable", &probeError{msg: "grpc health: Unavailable", cause: status.Error(codes.Unavailable, "connection refused")}, Unreachable},
		{"grpc deadline", timeoutErr(time.Second, "awaiting grpc health response", status.Error(codes.DeadlineExceeded, "late")), Unreachable},
		{"grpc unimplemented", &probeError{msg: "grpc health: Unimplemented", cause: status.Error(codes.Unimplemented, "no health")}, Answered},
		{"malformed", malformed("malformed status line %s", clip([]byte("HTTP/9"))), Answered},
		{"body too large", bodyTooLarge(16), Answered},
		{"untrusted certificate", withTLSHint(netErr("tls handshake", time.Second, x509.UnknownAuthorityError{})), Answered},
		{"checker closed", errClosed, Answered},
		{"unrecognised", errors.New("something else"), Answered},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Classify(&Response{Err: c.err}); got != c.want {
				t.Fatalf("Classify(%v) = %s, want %s", c.err, got, c.want)
			}
		})
	}
}

// Real probes over real sockets, each failing one way.
func TestClassifyRealProbes(t *testing.T) {
	closedPort := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close() // only a closed port was wanted
		return addr
	}
	afterRequest := func(act func(net.Conn)) func(net.Conn, *bufio.Reader) {
		return func(conn net.Conn, br *bufio.Reader) {
			if readRequest(br) != "" {
				act(conn)
			}
		}
	}
	http := func(t *testing.T, addr string, timeout time.Duration) Response {
		return newHTTPTarget(t, addr, "/").probe(timeout)
	}
	serve := func(t *testing.T, handle func(net.Conn, *bufio.Reader)) string { return newRawServer(t, handle).addr() }
	cases := []struct {
		name string
		run  func(t *testing.T) Response
		want Reach
	}{
		{"http refused", func(t *testing.T) Response { return http(t, closedPort(t), probeTimeout) }, Unreachable},
		{"http reset", func(t *testing.T) Response {
			return http(t, serve(t, afterRequest(func(c net.Conn) {
				if err := c.(*net.TCPConn).SetLinger(0); err != nil { // close with RST
					t.Error(err)
				}
				_ = c.Close() // closing is the behaviour under test; the probe sees it
			})), probeTimeout)
		}, Unreachable},
		{"http closed before answering", func(t *testing.T) Response {
			return http(t, serve(t, afterRequest(func(c net.Conn) { _ = c.Close() })), probeTimeout)
		}, Unreachable},
		{"http no answer in time", func(t *testing.T) Response {
			return http(t, serve(t, holdOpen("")), 200*time.Millisecond)
		}, Unreachable},
		{"http 503", func(t *testing.T) Response {
			return http(t, serve(t, serveEach("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")), probeTimeout)
		}, Answered},
		{"http half a body", func(t *testing.T) Response {
			return http(t, serve(t, afterRequest(func(c net.Conn) {
				_, _ = fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"status\":") // a failed write shows in what the client gets
				_ = c.Close()
			})), probeTimeout)
		}, Answered},
		{"http malformed", func(t *testing.T) Response {
			return http(t, serve(t, holdOpen("SMTP ready\r\n\r\n")), probeTimeout)
		}, Answered},
		{"tcp refused", func(t *testing.T) Response {
			addr := closedPort(t)
			c := mustChecker(t, upstreams.KindTCP, "", addr, CheckerOptions{})
			var r Response
			c.Check(mustRequest(t, &upstreams.Probe{Kind: upstreams.KindTCP}, addr, RequestOptions{}), nowPlus(probeTimeout), nil, &r)
			return r
		}, Unreachable},
		{"grpc refused", func(t *testing.T) Response {
			addr := closedPort(t)
			return grpcProbe(t, mustChecker(t, upstreams.KindGRPC, "http", addr, CheckerOptions{}), addr, "")
		}, Unreachable},
		{"grpc not serving", func(t *testing.T) Response {
			_, hs, addr := grpcHealthServer(t, "")
			hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
			return grpcProbe(t, mustChecker(t, upstreams.KindGRPC, "http", addr, CheckerOptions{}), addr, "")
		}, Answered},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.run(t)
			if got := Classify(&r); got != c.want {
				t.Fatalf("status %d, err %v: Classify = %s, want %s", r.StatusCode, r.Err, got, c.want)
			}
		})
	}
}

// A passing probe is classified without allocating.
func TestClassifyAnswerAllocatesNothing(t *testing.T) {
	r := Response{StatusCode: 200}
	if n := testing.AllocsPerRun(100, func() { _ = Classify(&r) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
