package probe

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestStaleConnectionIsRetried(t *testing.T) {
	// The server answers one request per connection and then closes it
	// without saying so: every reuse finds a dead connection.
	srv := newRawServer(t, func(conn net.Conn, br *bufio.Reader) {
		if readRequest(br) != "" {
			_, _ = conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")) // a failed write shows in what the client gets
		}
	})
	h := newHTTPTarget(t, srv.addr(), "/")
	const probes = 10
	for i := 0; i < probes; i++ {
		if r := h.probe(probeTimeout); r.Err != nil || string(r.Body) != "ok" {
			t.Fatalf("probe %d: %q %v", i, r.Body, r.Err)
		}
	}
	st := stats(t, h.c)
	if st.StaleRetries != probes-1 || st.Failures != 0 || st.Dials != probes {
		t.Errorf("stats %+v, want %d stale retries, %d dials, no failures", st, probes-1, probes)
	}
	if srv.accepts.Load() != probes {
		t.Errorf("accepts = %d, want %d", srv.accepts.Load(), probes)
	}
}

// idleClosingServer is an HTTP (or HTTPS) server answering "ok" that closes
// a connection idle for 50 ms; closed counts the connections it closed.
func idleClosingServer(t *testing.T, withTLS bool) (srv *httptest.Server, closed *atomic.Int64) {
	t.Helper()
	closed = new(atomic.Int64)
	srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok")) // a failed write shows in what the client gets
	}))
	srv.Config.IdleTimeout = 50 * time.Millisecond
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed.Add(1)
		}
	}
	if withTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, closed
}

func TestServerIdleTimeoutDoesNotFailProbe(t *testing.T) {
	srv, closed := idleClosingServer(t, false)
	h := newHTTPTarget(t, srv.Listener.Addr().String(), "/healthz")
	for i := int64(1); i <= 3; i++ {
		if r := h.probe(probeTimeout); r.Err != nil || string(r.Body) != "ok" {
			t.Fatalf("probe %d: %q %v", i, r.Body, r.Err)
		}
		eventually(t, "the server's idle timeout to close the connection", func() bool { return closed.Load() == i })
	}
	if r := h.probe(probeTimeout); r.Err != nil {
		t.Fatalf("last probe: %v", r.Err)
	}
	if st := stats(t, h.c); st.StaleRetries != 3 || st.Failures != 0 {
		t.Errorf("stats %+v, want 3 stale retries and no failures", st)
	}
}

func TestFreshConnectionFailureIsNotRetried(t *testing.T) {
	srv := newRawServer(t, func(conn net.Conn, br *bufio.Reader) {
		readRequest(br) // and close without answering
	})
	h := newHTTPTarget(t, srv.addr(), "/")
	r := h.probe(probeTimeout)
	if r.Err == nil || r.Err.Error() != "read response: connection closed by server" {
		t.Fatalf("err = %v", r.Err)
	}
	if srv.accepts.Load() != 1 || stats(t, h.c).StaleRetries != 0 {
		t.Errorf("accepts %d, stats %+v: a fresh connection was retried", srv.accepts.Load(), stats(t, h.c))
	}
}

func TestConnectionCloseHeader(t *testing.T) {
	// The server says close but leaves the connection open: the client
	// must close it and dial again rather than reuse it.
	srv := newRawServer(t, holdOpen("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"))
	h := newHTTPTarget(t, srv.addr(), "/")
	for i := 0; i < 3; i++ {
		if r := h.probe(probeTimeout); r.Err != nil || string(r.Body) != "ok" {
			t.Fatalf("probe %d: %q %v", i, r.Body, r.Err)
		}
	}
	if st := stats(t, h.c); srv.accepts.Load() != 3 || st.StaleRetries != 0 || st.Reused != 0 {
		t.Errorf("accepts %d, stats %+v", srv.accepts.Load(), st)
	}
}

func TestHTTP10Responses(t *testing.T) {
	t.Run("body until close", func(t *testing.T) {
		srv := newRawServer(t, func(conn net.Conn, br *bufio.Reader) {
			if readRequest(br) != "" {
				_, _ = conn.Write([]byte("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nold school")) // a failed write shows in what the client gets
			}
		})
		h := newHTTPTarget(t, srv.addr(), "/")
		for i := 0; i < 2; i++ {
			r := h.probe(probeTimeout)
			if r.Err != nil || r.StatusCode != 200 || string(r.Body) != "old school" || r.ContentType != "text/plain" {
				t.Fatalf("probe %d: %d %q %v", i, r.StatusCode, r.Body, r.Err)
			}
		}
	})
	t.Run("content-length, server keeps conn", func(t *testing.T) {
		srv := newRawServer(t, holdOpen("HTTP/1.0 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown"))
		h := newHTTPTarget(t, srv.addr(), "/")
		for i := 0; i < 2; i++ {
			if r := h.probe(probeTimeout); r.Err != nil || r.StatusCode != 503 || string(r.Body) != "down" {
				t.Fatalf("probe %d: %d %q %v", i, r.StatusCode, r.Body, r.Err)
			}
		}
		if st := stats(t, h.c); srv.accepts.Load() != 2 || st.StaleRetries != 0 {
			t.Errorf("accepts %d, stats %+v: HTTP/1.0 connection was reused", srv.accepts.Load(), st)
		}
	})
}

func TestExtraBytesAfterBodyDropConnection(t *testing.T) {
	srv := newRawServer(t, holdOpen("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokJUNK"))
	h := newHTTPTarget(t, srv.addr(), "/")
	for i := 0; i < 2; i++ {
		if r := h.probe(probeTimeout); r.Err != nil || string(r.Body) != "ok" {
			t.Fatalf("probe %d: %q %v", i, r.Body, r.Err)
		}
	}
	if srv.accepts.Load() != 2 {
		t.Errorf("accepts = %d, want 2", srv.accepts.Load())
	}
}
