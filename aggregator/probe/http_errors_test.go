package probe

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil/upstreams"
)

// holdOpen answers each request with resp and then keeps the connection
// open until the client closes it, so errors cannot come from an EOF.
func holdOpen(resp string) func(net.Conn, *bufio.Reader) {
	return func(conn net.Conn, br *bufio.Reader) {
		if readRequest(br) == "" {
			return
		}
		_, _ = conn.Write([]byte(resp)) // a failed write shows in what the client gets
		_, _ = io.Copy(io.Discard, br)  // until the client closes
	}
}

func TestBodyOverLimit(t *testing.T) {
	cases := map[string]string{
		"content-length": "HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n12345678901234567",
		"chunked":        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n9\r\n123456789\r\n0\r\n\r\n",
		"until-close":    "HTTP/1.1 200 OK\r\n\r\n12345678901234567",
	}
	for name, resp := range cases {
		t.Run(name, func(t *testing.T) {
			srv := newRawServer(t, holdOpen(resp))
			p := httpProbe("/")
			p.MaxBodyBytes = 16
			h := newHTTPTarget(t, srv.addr(), "/")
			h.req = mustRequest(t, p, srv.addr(), RequestOptions{})
			r := h.probe(probeTimeout)
			if r.Err == nil || r.Err.Error() != "body exceeds 16 bytes" || !errors.Is(r.Err, ErrBodyTooLarge) {
				t.Fatalf("err = %v, want body exceeds 16 bytes", r.Err)
			}
			// The connection was dropped: the next probe dials again.
			h.probe(probeTimeout)
			if srv.accepts.Load() != 2 {
				t.Errorf("accepts = %d, want 2", srv.accepts.Load())
			}
		})
	}
}

func TestBodyExactlyAtLimit(t *testing.T) {
	srv := newRawServer(t, serveEach("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n1234567890123456\r\n0\r\n\r\n"))
	p := httpProbe("/")
	p.MaxBodyBytes = 16
	h := newHTTPTarget(t, srv.addr(), "/")
	h.req = mustRequest(t, p, srv.addr(), RequestOptions{})
	if r := h.probe(probeTimeout); r.Err != nil || len(r.Body) != 16 {
		t.Fatalf("probe: %q %v", r.Body, r.Err)
	}
}

func TestHeadersOverLimit(t *testing.T) {
	many := strings.Repeat("X-Filler: "+strings.Repeat("f", 90)+"\r\n", 200)
	cases := map[string]string{
		"one huge header":  "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 20000) + "\r\n\r\n",
		"many headers":     "HTTP/1.1 200 OK\r\n" + many + "\r\n",
		"huge status line": "HTTP/1.1 200 " + strings.Repeat("O", 20000) + "\r\n\r\n",
	}
	for name, resp := range cases {
		t.Run(name, func(t *testing.T) {
			srv := newRawServer(t, holdOpen(resp))
			r := newHTTPTarget(t, srv.addr(), "/").probe(probeTimeout)
			if r.Err == nil || r.Err.Error() != "response headers exceed 16384 bytes" || !errors.Is(r.Err, ErrMalformed) {
				t.Fatalf("err = %v", r.Err)
			}
		})
	}
}

func TestMalformedResponses(t *testing.T) {
	cases := []struct{ name, resp, want string }{
		{"ssh banner", "SSH-2.0-OpenSSH_9.6\r\n", "malformed status line"},
		{"tls alert bytes", "\x15\x03\x01\x00\x02\x02\x46", "malformed status line"},
		{"http2 preface", "\x00\x00\x12\x04\x00\x00\x00\x00\x00", "malformed status line"},
		{"status not a number", "HTTP/1.1 2OO OK\r\n\r\n", "malformed status line"},
		{"http/2 text", "HTTP/2 200\r\n\r\n", "malformed status line"},
		{"header without colon", "HTTP/1.1 200 OK\r\nthis is not a header\r\n\r\n", "malformed header line"},
		{"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", "malformed header line"},
		{"folded header", "HTTP/1.1 200 OK\r\nX-A: 1\r\n  continued\r\n\r\n", "obsolete line folding"},
		{"bad content-length", "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", "malformed Content-Length"},
		{"conflicting content-length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", "malformed Content-Length"},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed chunk size"},
		{"chunk without CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX\r\n0\r\n\r\n", "missing CRLF after chunk data"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRawServer(t, holdOpen(tc.resp))
			h := newHTTPTarget(t, srv.addr(), "/")
			r := h.probe(probeTimeout)
			if r.Err == nil || !strings.Contains(r.Err.Error(), tc.want) || !errors.Is(r.Err, ErrMalformed) {
				t.Fatalf("err = %v, want %q", r.Err, tc.want)
			}
			if r.Latency > probeTimeout/2 {
				t.Errorf("took %v: the error waited for the deadline", r.Latency)
			}
			h.probe(probeTimeout)
			if srv.accepts.Load() != 2 {
				t.Errorf("accepts = %d, want 2 (connection closed after a malformed response)", srv.accepts.Load())
			}
		})
	}
}

func TestTruncatedResponses(t *testing.T) {
	cases := map[string]string{
		"mid headers": "HTTP/1.1 200 OK\r\nContent-Ty",
		"mid body":    "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
		"mid chunks":  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
	}
	for name, resp := range cases {
		t.Run(name, func(t *testing.T) {
			srv := newRawServer(t, func(conn net.Conn, br *bufio.Reader) {
				if readRequest(br) != "" {
					_, _ = conn.Write([]byte(resp)) // a failed write shows in what the client gets
				}
			})
			h := newHTTPTarget(t, srv.addr(), "/")
			r := h.probe(probeTimeout)
			if r.Err == nil || !strings.Contains(r.Err.Error(), "connection closed by server") {
				t.Fatalf("err = %v", r.Err)
			}
			if st := stats(t, h.c); st.StaleRetries != 0 {
				t.Errorf("a partial response was retried: %+v", st)
			}
		})
	}
}

func TestTimeoutThenRecovery(t *testing.T) {
	var hang atomic.Bool
	hang.Store(true)
	srv := newRawServer(t, func(conn net.Conn, br *bufio.Reader) {
		for readRequest(br) != "" {
			if hang.Load() {
				_, _ = io.Copy(io.Discard, br) // never answer, until the client closes
				return
			}
			_, _ = conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")) // a failed write shows in what the client gets
		}
	})
	h := newHTTPTarget(t, srv.addr(), "/healthz")
	r := h.probe(200 * time.Millisecond)
	if r.Err == nil || !strings.HasPrefix(r.Err.Error(), "timeout after ") ||
		!strings.Contains(r.Err.Error(), "awaiting response") || !errors.Is(r.Err, os.ErrDeadlineExceeded) {
		t.Fatalf("err = %v, want a timeout", r.Err)
	}
	if r.Latency < 150*time.Millisecond {
		t.Errorf("timed out after only %v", r.Latency)
	}
	hang.Store(false)
	if r := h.probe(probeTimeout); r.Err != nil || string(r.Body) != "ok" {
		t.Fatalf("after recovery: %q %v", r.Body, r.Err)
	}
	if st := stats(t, h.c); st.Dials != 2 || st.StaleRetries != 0 {
		t.Errorf("stats %+v, want a fresh dial after the timeout and no retry", st)
	}
}

func TestTimeoutMessageNamesBudget(t *testing.T) {
	srv := newRawServer(t, holdOpen(""))
	h := newHTTPTarget(t, srv.addr(), "/")
	var r Response
	start := time.Now()
	h.c.Check(h.req, start.Add(300*time.Millisecond), &h.s, &r)
	// The budget is measured from the start of Check, a hair after start.
	if r.Err == nil || !regexp.MustCompile(`^timeout after (2\d\d|300)ms awaiting response$`).MatchString(r.Err.Error()) {
		t.Fatalf("err = %v, want timeout after ~300ms", r.Err)
	}
	r = Response{}
	h.c.Check(h.req, time.Now().Add(-time.Second), &h.s, &r)
	if r.Err == nil || !errors.Is(r.Err, os.ErrDeadlineExceeded) {
		t.Fatalf("past deadline: err = %v", r.Err)
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // only a closed port was wanted
	r := newHTTPTarget(t, addr, "/").probe(probeTimeout)
	if r.Err == nil || r.Err.Error() != "connect: connection refused" || !errors.Is(r.Err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v", r.Err)
	}
}

func TestClosedChecker(t *testing.T) {
	srv := newRawServer(t, serveEach("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	h := newHTTPTarget(t, srv.addr(), "/")
	if r := h.probe(probeTimeout); r.Err != nil {
		t.Fatal(r.Err)
	}
	if err := h.c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if r := h.probe(probeTimeout); r.Err == nil || !strings.Contains(r.Err.Error(), "checker closed") {
		t.Fatalf("after Close: err = %v", r.Err)
	}
	eventually(t, "the server to see the connection closed", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.conns) == 0
	})
}

func TestCloseInterruptsCheck(t *testing.T) {
	srv := newRawServer(t, holdOpen(""))
	h := newHTTPTarget(t, srv.addr(), "/")
	done := make(chan Response)
	go func() {
		var r Response
		h.c.Check(h.req, time.Now().Add(time.Minute), &Scratch{}, &r)
		done <- r
	}()
	eventually(t, "the probe to connect", func() bool { return srv.accepts.Load() == 1 })
	if err := h.c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.Err == nil {
			t.Fatal("interrupted probe reported success")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not interrupt the probe")
	}
}

func TestCheckerRejectsOtherKinds(t *testing.T) {
	h := newHTTPTarget(t, "127.0.0.1:1", "/")
	var r Response
	tcpReq := mustRequest(t, &upstreams.Probe{Kind: upstreams.KindTCP}, "127.0.0.1:1", RequestOptions{})
	h.c.Check(tcpReq, time.Now().Add(time.Second), &h.s, &r)
	if r.Err == nil {
		t.Fatal("http checker ran a tcp request")
	}
	if _, err := NewChecker(upstreams.KindHTTP, "ftp", "127.0.0.1:1", CheckerOptions{}); err == nil {
		t.Error("NewChecker accepted scheme ftp")
	}
	if _, err := NewChecker(upstreams.KindHTTP, "http", "no-port", CheckerOptions{}); err == nil {
		t.Error("NewChecker accepted an address without port")
	}
}
