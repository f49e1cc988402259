package probe

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/upstreams"
)

// countingServer is an httptest server that counts new connections.
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func TestKeepAliveReusesOneConnection(t *testing.T) {
	var hits atomic.Int64
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"status":"ok","n":%d}`, n) // a failed write shows in what the client gets
	}))
	addr := srv.Listener.Addr().String()
	h := newHTTPTarget(t, addr, "/healthz")
	const probes = 50
	for i := 1; i <= probes; i++ {
		r := h.probe(probeTimeout)
		if r.Err != nil {
			t.Fatalf("probe %d: %v", i, r.Err)
		}
		if want := fmt.Sprintf(`{"status":"ok","n":%d}`, i); r.StatusCode != 200 || string(r.Body) != want {
			t.Fatalf("probe %d: %d %q, want 200 %q", i, r.StatusCode, r.Body, want)
		}
		if r.ContentType != "application/json" {
			t.Fatalf("probe %d: ContentType %q", i, r.ContentType)
		}
		if r.Latency <= 0 {
			t.Fatalf("probe %d: latency %v", i, r.Latency)
		}
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("server saw %d connections for %d probes, want 1", got, probes)
	}
	st := stats(t, h.c)
	if st.Dials != 1 || st.Reused != probes-1 || st.Probes != probes || st.Failures != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestRequestOnTheWire(t *testing.T) {
	got := make(chan string, 1)
	srv := newRawServer(t, func(conn net.Conn, br *bufio.Reader) {
		var head strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			head.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		got <- head.String()
		_, _ = conn.Write([]byte("HTTP/1.1 204 No Content\r\n\r\n")) // a failed write shows in what the client gets
	})
	p := httpProbe("/readyz")
	p.Headers = [][2]string{{"X-Token", "abc"}}
	h := newHTTPTarget(t, srv.addr(), "/")
	h.req = mustRequest(t, p, srv.addr(), RequestOptions{})
	if r := h.probe(probeTimeout); r.Err != nil || r.StatusCode != 204 {
		t.Fatalf("probe: %d %v", r.StatusCode, r.Err)
	}
	want := "GET /readyz HTTP/1.1\r\nHost: " + srv.addr() + "\r\nUser-Agent: vigil/1\r\nAccept: */*\r\nX-Token: abc\r\n\r\n"
	if head := <-got; head != want {
		t.Errorf("server received:\n%q\nwant\n%q", head, want)
	}
}

func TestContentLengthBodies(t *testing.T) {
	// Sizes straddle the initial buffer so the scratch buffer grows, then
	// small bodies reuse it.
	sizes := []int{0, 5, 4000, 5000, 50000, 12, 65536}
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int
		if _, err := fmt.Sscan(r.URL.Query().Get("n"), &n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body := bytes.Repeat([]byte("abcdefghij"), n/10+1)[:n]
		w.Header().Set("Content-Length", fmt.Sprint(n))
		_, _ = w.Write(body) // a failed write shows in what the client gets
	}))
	addr := srv.Listener.Addr().String()
	c := mustChecker(t, upstreams.KindHTTP, "http", addr, CheckerOptions{})
	var s Scratch
	for _, n := range sizes {
		req := mustRequest(t, httpProbe(fmt.Sprintf("/b?n=%d", n)), addr, RequestOptions{})
		var r Response
		c.Check(req, time.Now().Add(probeTimeout), &s, &r)
		if r.Err != nil {
			t.Fatalf("n=%d: %v", n, r.Err)
		}
		want := bytes.Repeat([]byte("abcdefghij"), n/10+1)[:n]
		if !bytes.Equal(r.Body, want) {
			t.Fatalf("n=%d: body of %d bytes differs", n, len(r.Body))
		}
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("server saw %d connections, want 1", got)
	}
}

func TestChunkedBodies(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		n := 3
		if r.URL.Path == "/big" {
			n = 45
		}
		// A failed write shows in what the client gets.
		for i := 0; i < n; i++ {
			_, _ = fmt.Fprintf(w, "%04d%s", i, strings.Repeat("x", 996))
			w.(http.Flusher).Flush() // one chunk per write
		}
	}))
	addr := srv.Listener.Addr().String()
	c := mustChecker(t, upstreams.KindHTTP, "http", addr, CheckerOptions{})
	var s Scratch
	for _, path := range []string{"/small", "/big", "/small", "/big"} {
		req := mustRequest(t, httpProbe(path), addr, RequestOptions{})
		var r Response
		c.Check(req, time.Now().Add(probeTimeout), &s, &r)
		if r.Err != nil {
			t.Fatalf("%s: %v", path, r.Err)
		}
		n := 3
		if path == "/big" {
			n = 45
		}
		if len(r.Body) != n*1000 {
			t.Fatalf("%s: body %d bytes, want %d", path, len(r.Body), n*1000)
		}
		for i := 0; i < n; i++ {
			if got := string(r.Body[i*1000 : i*1000+4]); got != fmt.Sprintf("%04d", i) {
				t.Fatalf("%s: chunk %d starts %q", path, i, got)
			}
		}
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("server saw %d connections, want 1", got)
	}
}

func TestChunkedWithExtensionsAndTrailers(t *testing.T) {
	resp := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5;name=val\r\nhello\r\nA \r\n, world!!!\r\n0\r\nX-Checksum: 42\r\n\r\n"
	srv := newRawServer(t, serveEach(resp))
	h := newHTTPTarget(t, srv.addr(), "/")
	for i := 0; i < 3; i++ {
		r := h.probe(probeTimeout)
		if r.Err != nil || string(r.Body) != "hello, world!!!" {
			t.Fatalf("probe %d: %q %v", i, r.Body, r.Err)
		}
	}
	if srv.accepts.Load() != 1 {
		t.Errorf("accepts = %d, want 1 (connection kept after chunked body)", srv.accepts.Load())
	}
}

func TestResponseArrivingByteByByte(t *testing.T) {
	resp := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
	srv := newRawServer(t, func(conn net.Conn, br *bufio.Reader) {
		for readRequest(br) != "" {
			for i := 0; i < len(resp); i++ {
				if _, err := conn.Write([]byte{resp[i]}); err != nil {
					return
				}
			}
		}
	})
	h := newHTTPTarget(t, srv.addr(), "/")
	for i := 0; i < 2; i++ {
		r := h.probe(probeTimeout)
		if r.Err != nil || string(r.Body) != "abcdefg" || r.ContentType != "text/plain" {
			t.Fatalf("probe %d: %q %q %v", i, r.Body, r.ContentType, r.Err)
		}
	}
	if srv.accepts.Load() != 1 {
		t.Errorf("accepts = %d, want 1", srv.accepts.Load())
	}
}

func TestBodyUntilClose(t *testing.T) {
	srv := newRawServer(t, func(conn net.Conn, br *bufio.Reader) {
		if readRequest(br) != "" {
			_, _ = conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")) // a failed write shows in what the client gets
		}
	})
	h := newHTTPTarget(t, srv.addr(), "/")
	for i := 0; i < 2; i++ {
		r := h.probe(probeTimeout)
		if r.Err != nil || string(r.Body) != "until the end" {
			t.Fatalf("probe %d: %q %v", i, r.Body, r.Err)
		}
	}
	if st := stats(t, h.c); st.Dials != 2 || st.StaleRetries != 0 {
		t.Errorf("stats %+v, want 2 dials and no stale retries", st)
	}
}

func TestNoBodyStatusesKeepConnection(t *testing.T) {
	srv := newRawServer(t, func(conn net.Conn, br *bufio.Reader) {
		n := 0
		for readRequest(br) != "" {
			n++
			if n%2 == 1 {
				_, _ = conn.Write([]byte("HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n")) // a failed write shows in what the client gets
			} else {
				_, _ = conn.Write([]byte("HTTP/1.1 304 Not Modified\r\n\r\n")) // a failed write shows in what the client gets
			}
		}
	})
	h := newHTTPTarget(t, srv.addr(), "/")
	for i, want := range []int{204, 304, 204} {
		if r := h.probe(probeTimeout); r.Err != nil || r.StatusCode != want || len(r.Body) != 0 {
			t.Fatalf("probe %d: %d %q %v", i, r.StatusCode, r.Body, r.Err)
		}
	}
	if srv.accepts.Load() != 1 {
		t.Errorf("accepts = %d, want 1", srv.accepts.Load())
	}
}

func TestInterimResponsesSkipped(t *testing.T) {
	resp := "HTTP/1.1 100 Continue\r\n\r\n" +
		"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nContent-Type: text/bogus\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	srv := newRawServer(t, serveEach(resp))
	h := newHTTPTarget(t, srv.addr(), "/")
	r := h.probe(probeTimeout)
	if r.Err != nil || r.StatusCode != 200 || string(r.Body) != "ok" || r.ContentType != "" {
		t.Fatalf("probe: %d %q ct=%q %v", r.StatusCode, r.Body, r.ContentType, r.Err)
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	var elsewhere atomic.Int64
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			elsewhere.Add(1)
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	h := newHTTPTarget(t, srv.Listener.Addr().String(), "/healthz")
	r := h.probe(probeTimeout)
	if r.Err != nil || r.StatusCode != 302 || r.Location != "/elsewhere" {
		t.Fatalf("probe: %d location=%q %v", r.StatusCode, r.Location, r.Err)
	}
	if elsewhere.Load() != 0 {
		t.Error("the redirect was followed")
	}
}

func TestLocationOnlyForRedirects(t *testing.T) {
	srv := newRawServer(t, serveEach("HTTP/1.1 201 Created\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n"))
	h := newHTTPTarget(t, srv.addr(), "/")
	if r := h.probe(probeTimeout); r.Err != nil || r.StatusCode != 201 || r.Location != "" {
		t.Fatalf("probe: %d location=%q %v", r.StatusCode, r.Location, r.Err)
	}
}

func TestImmediateHealthCheckFailHeader(t *testing.T) {
	var draining atomic.Bool
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() {
			w.Header().Set("X-Envoy-Immediate-Health-Check-Fail", "true")
			w.WriteHeader(503)
			return
		}
		_, _ = w.Write([]byte("ok")) // a failed write shows in what the client gets
	}))
	h := newHTTPTarget(t, srv.Listener.Addr().String(), "/healthz")
	if r := h.probe(probeTimeout); r.Err != nil || r.ImmediateFail || r.StatusCode != 200 {
		t.Fatalf("healthy probe: %d immediate=%v %v", r.StatusCode, r.ImmediateFail, r.Err)
	}
	draining.Store(true)
	if r := h.probe(probeTimeout); r.Err != nil || !r.ImmediateFail || r.StatusCode != 503 {
		t.Fatalf("draining probe: %d immediate=%v %v", r.StatusCode, r.ImmediateFail, r.Err)
	}
}

func TestCollectHeaders(t *testing.T) {
	srv := newRawServer(t, serveEach("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"+
		"X-Build: 1.2.3\r\nx-multi: a\r\nX-Multi: b\r\nContent-Length: 2\r\n\r\n{}"))
	addr := srv.addr()
	c := mustChecker(t, upstreams.KindHTTP, "http", addr, CheckerOptions{})
	with := mustRequest(t, httpProbe("/"), addr, RequestOptions{CollectHeaders: true})
	without := mustRequest(t, httpProbe("/"), addr, RequestOptions{})
	var s Scratch
	var r Response
	c.Check(with, time.Now().Add(probeTimeout), &s, &r)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	want := map[string]string{"content-type": "application/json", "x-build": "1.2.3", "x-multi": "a, b", "content-length": "2"}
	if len(r.Headers) != len(want) {
		t.Errorf("headers %v, want %v", r.Headers, want)
	}
	for k, v := range want {
		if r.Headers[k] != v {
			t.Errorf("header %q = %q, want %q", k, r.Headers[k], v)
		}
	}
	r = Response{}
	c.Check(without, time.Now().Add(probeTimeout), &s, &r)
	if r.Err != nil || r.Headers != nil {
		t.Errorf("without CollectHeaders: headers %v err %v", r.Headers, r.Err)
	}
}

func TestContentTypeFollowsEachResponse(t *testing.T) {
	types := []string{"application/json", "application/json", "text/plain; charset=utf-8", "", "application/json"}
	srv := newRawServer(t, func(conn net.Conn, br *bufio.Reader) {
		for i := 0; readRequest(br) != ""; i++ {
			ct := ""
			if types[i] != "" {
				ct = "Content-Type: " + types[i] + "\r\n"
			}
			_, _ = conn.Write([]byte("HTTP/1.1 200 OK\r\n" + ct + "Content-Length: 0\r\n\r\n")) // a failed write shows in what the client gets
		}
	})
	h := newHTTPTarget(t, srv.addr(), "/")
	for i, want := range types {
		if r := h.probe(probeTimeout); r.Err != nil || r.ContentType != want {
			t.Fatalf("probe %d: ContentType %q, want %q (%v)", i, r.ContentType, want, r.Err)
		}
	}
}
