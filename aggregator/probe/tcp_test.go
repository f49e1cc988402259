package probe

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil/upstreams"
)

func TestTCPCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	accepted := make(chan struct{}, 1)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.Close() // the connect was all the probe wanted
			accepted <- struct{}{}
		}
	}()
	c := mustChecker(t, upstreams.KindTCP, "", addr, CheckerOptions{})
	req := mustRequest(t, &upstreams.Probe{Kind: upstreams.KindTCP}, addr, RequestOptions{})

	var r Response
	c.Check(req, time.Now().Add(probeTimeout), nil, &r)
	if r.Err != nil || r.StatusCode != 0 || r.Latency <= 0 {
		t.Fatalf("open port: %d %v %v", r.StatusCode, r.Latency, r.Err)
	}
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("listener never saw the connection")
	}

	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	r = Response{}
	c.Check(req, time.Now().Add(probeTimeout), nil, &r)
	if r.Err == nil || r.Err.Error() != "connect: connection refused" || !errors.Is(r.Err, syscall.ECONNREFUSED) {
		t.Fatalf("closed port: err = %v", r.Err)
	}
	if st := stats(t, c); st.Probes != 2 || st.Failures != 1 {
		t.Errorf("stats %+v", st)
	}
}
