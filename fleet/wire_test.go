package fleet

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// rawExchange writes the chunks to a new connection to addr (pausing
// between them), then reads until the server closes the connection or
// quiet passes without bytes, and returns what it read with Date values
// replaced by "X".
func rawExchange(t *testing.T, addr string, quiet time.Duration, chunks ...string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close() //nolint:errcheck // test cleanup
	for i, ch := range chunks {
		if i > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		if _, err := io.WriteString(c, ch); err != nil {
			t.Fatal(err)
		}
	}
	var out []byte
	buf := make([]byte, 4096)
	for {
		if err := c.SetReadDeadline(time.Now().Add(quiet)); err != nil {
			t.Fatal(err)
		}
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			break
		}
	}
	return regexp.MustCompile(`Date: [^\r]+\r\n`).ReplaceAllString(string(out), "Date: X\r\n")
}

// TestWire checks the bytes of answers as net/http's server wrote them, for
// request heads split over several reads, pipelined requests, request
// bodies, HEAD, unknown paths and methods, HTTP/1.0 and Connection: close.
func TestWire(t *testing.T) {
	t.Parallel()
	f := startFleet(t, Spec{N: 1, Formats: []Format{FormatStatus}})
	addr := f.Instances()[0].Address
	const (
		ok       = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\nDate: X\r\n\r\nok"
		okClose  = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\nDate: X\r\nConnection: close\r\n\r\nok"
		notFound = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nDate: X\r\nContent-Length: 19\r\n\r\n404 page not found\n"
	)
	quiet := 300 * time.Millisecond
	cases := []struct {
		name   string
		chunks []string
		want   string
	}{
		{"split head", []string{"GET /rea", "dy HTTP/1.1\r\nHo", "st: x\r\n", "Connection: close\r\n\r", "\n"}, okClose},
		{"pipelined", []string{"GET /ready HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}, ok + notFound + okClose},
		{"body skipped", []string{"GET /ready HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234", "56789GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}, ok + strings.Replace(notFound, "Content-Length: 19\r\n", "Content-Length: 19\r\nConnection: close\r\n", 1)},
		{"head", []string{"HEAD /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\nDate: X\r\nConnection: close\r\n\r\n"},
		{"method", []string{"DELETE /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}, "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nDate: X\r\nContent-Length: 19\r\nConnection: close\r\n\r\nmethod not allowed\n"},
		{"http/1.0", []string{"GET /ready HTTP/1.0\r\n\r\n"}, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\nDate: X\r\n\r\nok"},
		{"http/1.0 keep-alive", []string{"GET /ready HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /ready HTTP/1.0\r\n\r\n"}, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\nDate: X\r\nConnection: keep-alive\r\n\r\nokHTTP/1.0 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\nDate: X\r\n\r\nok"},
		{"bare LF", []string{"GET /ready HTTP/1.1\nHost: x\nConnection: close\n\n"}, okClose},
		{"absolute form", []string{"GET http://x/re%61dy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}, okClose},
		{"malformed", []string{"GARBAGE\r\n\r\n"}, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"},
		{"bad length", []string{"GET /ready HTTP/1.1\r\nContent-Length: x\r\n\r\n"}, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"},
		{"version", []string{"GET /ready HTTP/2.0\r\n\r\n"}, "HTTP/1.1 505 HTTP Version Not Supported: unsupported protocol version\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n505 HTTP Version Not Supported: unsupported protocol version"},
		{"head too large", []string{"GET /ready HTTP/1.1\r\nX: " + strings.Repeat("a", maxHeadBytes) + "\r\n\r\n"}, "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large"},
		{"chunked body closes", []string{"POST /nope HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"}, strings.Replace(notFound, "Content-Length: 19\r\n", "Content-Length: 19\r\nConnection: close\r\n", 1)},
	}
	for _, tc := range cases {
		if got := rawExchange(t, addr, quiet, tc.chunks...); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}

	// A keep-alive connection stays open after its answer, and net/http's
	// client reads the answers and the Date header.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close() //nolint:errcheck // test cleanup
	br := bufio.NewReader(c)
	for i := range 3 {
		if _, err := io.WriteString(c, "GET /ready HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close() // a response body: nothing to lose
		if d, err := http.ParseTime(resp.Header.Get("Date")); err != nil || time.Since(d) > time.Minute || string(b) != "ok" {
			t.Errorf("answer %d: date %q (%v), body %q", i, resp.Header.Get("Date"), err, b)
		}
	}
}

// TestPipelinedBacklog sends many pipelined requests and reads the answers
// only later, so the fleet finds the socket full and must wait for the
// client; every answer still arrives, in order.
func TestPipelinedBacklog(t *testing.T) {
	t.Parallel()
	f := startFleet(t, Spec{N: 1, Formats: []Format{FormatDynamoFrontend}})
	c, err := net.Dial("tcp", f.Instances()[0].Address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close() //nolint:errcheck // test cleanup
	const n = 12000 // about 8 MiB of answers: more than the socket buffers hold
	werr := make(chan error, 1)
	go func() {
		var b strings.Builder
		for i := range n {
			path := "/health"
			if i%2 == 1 {
				path = "/live"
			}
			b.WriteString("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
		}
		_, err := io.WriteString(c, b.String())
		werr <- err
	}()
	time.Sleep(1500 * time.Millisecond) // let the answers pile up: the fleet reads 512 bytes of requests per round
	if err := c.SetReadDeadline(time.Now().Add(60 * time.Second)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReaderSize(c, 64<<10)
	for i := range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close() // a response body: nothing to lose
		wantLen := 609
		if i%2 == 1 {
			wantLen = len(frontendLive)
		}
		if err != nil || resp.StatusCode != 200 || len(b) != wantLen {
			t.Fatalf("answer %d: %d, %d bytes (%v), want 200 and %d bytes", i, resp.StatusCode, len(b), err, wantLen)
		}
	}
	if err := <-werr; err != nil {
		t.Fatalf("write requests: %v", err)
	}
}
