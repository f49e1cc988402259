package probe

import (
	"net"
	"sync"
	"testing"
)

// fixedResponse is what the benchmark and allocation servers answer.
const fixedResponse = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Mon, 02 Jan 2006 15:04:05 GMT\r\n" +
	"Content-Length: 15\r\n\r\n{\"status\":\"ok\"}"

// serveFixed answers every request on ln with fixedResponse. It allocates
// nothing per request, so allocation counts measure the client alone.
func serveFixed(ln net.Listener) {
	var wg sync.WaitGroup
	defer wg.Wait()
	resp := []byte(fixedResponse)
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close() //nolint:errcheck // test cleanup
			buf := make([]byte, 4096)
			state := 0 // how much of "\r\n\r\n" was just seen
			for {
				n, err := conn.Read(buf)
				for _, c := range buf[:n] {
					switch {
					case c == '\r' && (state == 0 || state == 2):
						state++
					case c == '\n' && (state == 1 || state == 3):
						state++
					case c == '\r':
						state = 1
					default:
						state = 0
					}
					if state == 4 {
						state = 0
						if _, err := conn.Write(resp); err != nil {
							return
						}
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

func startFixedServer(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		serveFixed(ln)
	}()
	t.Cleanup(func() {
		_ = ln.Close() // test cleanup
		<-done
	})
	return ln.Addr().String()
}

func TestKeepAliveProbeAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counting is slow-ish")
	}
	addr := startFixedServer(t)
	h := newHTTPTarget(t, addr, "/healthz")
	var r Response
	check := func() {
		r = Response{}
		h.c.Check(h.req, nowPlus(probeTimeout), &h.s, &r)
		if r.Err != nil || r.StatusCode != 200 || r.ContentType != "application/json" {
			t.Fatalf("probe: %d %v", r.StatusCode, r.Err)
		}
	}
	check() // dial, grow buffers, cache header values
	allocs := testing.AllocsPerRun(500, check)
	t.Logf("%.2f allocs per keep-alive probe", allocs)
	if allocs > 2 {
		t.Errorf("%.2f allocs per keep-alive probe, want at most 2", allocs)
	}
	if st := stats(t, h.c); st.Dials != 1 {
		t.Errorf("stats %+v: connection not kept alive", st)
	}
}
