package probe

import (
	"net"
	"testing"
	"time"

	"github.com/vigilhq/vigil/upstreams"
)

// FuzzReadResponse feeds arbitrary bytes to the response parser: it must
// never panic, never return a body over the limit, and either succeed with
// a valid status code or fail with an error.
func FuzzReadResponse(f *testing.F) {
	seeds := []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n1\r\na\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 1\n\nA",
		"\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"garbage",
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	req, err := NewRequest(&upstreams.Probe{Kind: upstreams.KindHTTP, MaxBodyBytes: 64}, "127.0.0.1:80",
		RequestOptions{CollectHeaders: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = server.Write(in) // the reader may stop early: that is one of the cases fuzzed
			_ = server.Close()      // a pipe: nothing to lose
		}()
		if err := client.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		c := &httpChecker{}
		var rd reader
		rd.reset(client, nil, req.maxBody)
		var resp Response
		_, err := c.readResponse(&rd, req, &resp)
		_ = client.Close() // a pipe: nothing to lose
		<-done
		if err == nil {
			if resp.StatusCode < 100 || resp.StatusCode > 999 {
				t.Fatalf("success with status %d", resp.StatusCode)
			}
			if len(resp.Body) > req.maxBody {
				t.Fatalf("body of %d bytes over the %d limit", len(resp.Body), req.maxBody)
			}
		}
	})
}
