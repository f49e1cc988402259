package xds_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/xds"
)

// Shutdown ends open xDS streams itself instead of waiting out the grace
// period (xDS streams never end on their own).
func TestShutdownEndsOpenStreams(t *testing.T) {
	f := newFixture()
	logger, buf := testLogger()
	opts := xds.DefaultOptions()
	opts.Logger, opts.ShutdownGrace = logger, time.Hour
	srv := startServer(t, f.store, opts, "")
	conn := dial(t, srv.addr)
	s := newSotw(t, conn, envoyNode)
	s.request(typeCLA, []string{"alpha"}, "", "", "")
	s.recvType(typeCLA)
	d := newDelta(t, conn, envoyNode)
	d.subscribe(typeCLA, "alpha")
	d.recvType(typeCLA)

	srv.stop() // fails the test if Run does not return within waitTimeout
	for name, ended := range map[string]chan error{"sotw": s.done, "delta": d.done} {
		select {
		case <-ended: //nolint:errcheck // only that the stream ended matters here
		case <-time.After(waitTimeout):
			t.Errorf("%s stream still open after shutdown", name)
		}
	}
	if strings.Contains(buf.String(), "timed out") {
		t.Errorf("graceful stop timed out:\n%s", buf.String())
	}
}

// After Run returns and clients hang up, nothing the server started is left.
func TestRunLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	f := newFixture()
	srv := startServer(t, f.store, xds.DefaultOptions(), "")
	conn := dial(t, srv.addr)
	c := newSotw(t, conn, envoyNode)
	c.request(typeCLA, []string{"alpha"}, "", "", "")
	c.recvType(typeCLA)
	setStatus(t, f.store, "alpha", "a", membership.StatusDraining)
	srv.stop()
	_ = conn.Close()
	<-c.done //nolint:errcheck // the stream ends with an error, as the server stopped
	waitFor(t, fmt.Sprintf("goroutines back to %d", before), func() bool { return runtime.NumGoroutine() <= before })
}

func TestRunRejectsMisuse(t *testing.T) {
	srv := xds.New(membership.NewStore(10), xds.DefaultOptions())
	if err := srv.Run(context.Background(), nil); err == nil {
		t.Errorf("Run with no listener returned nil")
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, lis) }()
	waitFor(t, "serving", srv.Serving)
	if err := srv.Run(ctx, lis); err == nil || !strings.Contains(err.Error(), "more than once") {
		t.Errorf("second Run = %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	if srv.Serving() {
		t.Errorf("Serving after Run returned")
	}
}
