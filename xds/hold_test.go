package xds_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/xds"
)

// quietFor is how long a held client must hear nothing: long enough that
// a server answering at once (in well under a millisecond here) is caught.
const quietFor = 300 * time.Millisecond

// With HoldUntil, a SotW and a delta client are connected and their
// requests wait unanswered until it closes; then each is answered with the
// store as it was when the hold ended (a change made during the hold is in
// the first answer, none of the earlier state is ever sent), and a client
// arriving later is answered at once.
func TestHoldUntilHoldsEveryAnswer(t *testing.T) {
	f := newFixture()
	hold := make(chan struct{})
	opts := xds.DefaultOptions()
	opts.HoldUntil = hold
	srv := startServer(t, f.store, opts, "")
	conn := dial(t, srv.addr)
	names := []string{"alpha"}

	s := newSotw(t, conn, envoyNode)
	s.request(typeCLA, names, "", "", "")
	d := newDelta(t, conn, envoyNode)
	d.subscribe(typeCLA, names...)
	cds := newSotw(t, conn, envoyNode)
	cds.request(typeCluster, nil, "", "", "")

	select {
	case r := <-s.resps:
		t.Fatalf("SotW answered during the hold: %s", r.GetTypeUrl())
	case r := <-d.resps:
		t.Fatalf("delta answered during the hold: %s", r.GetTypeUrl())
	case r := <-cds.resps:
		t.Fatalf("CDS answered during the hold: %s", r.GetTypeUrl())
	case <-time.After(quietFor):
	}
	// The verdict that ends the hold: it is what the clients must see first.
	setStatus(t, f.store, "alpha", "d", membership.StatusHealthy)
	close(hold)

	want := "10.0.0.4=HEALTHY/test: HEALTHY"
	if got := statuses(decodeCLAs(t, s.recvType(typeCLA).GetResources())["alpha"])[3]; got != want {
		t.Errorf("SotW first answer: alpha/d = %s, want %s", got, want)
	}
	if got := statuses(decodeCLAs(t, deltaAnys(d.recvType(typeCLA)))["alpha"])[3]; got != want {
		t.Errorf("delta first answer: alpha/d = %s, want %s", got, want)
	}
	if n := len(cds.recvType(typeCluster).GetResources()); n != 3 {
		t.Errorf("CDS answered %d clusters, want 3", n)
	}

	late := newSotw(t, dial(t, srv.addr), envoyNode)
	late.request(typeCLA, names, "", "", "")
	select {
	case r := <-late.resps:
		if got := statuses(decodeCLAs(t, r.GetResources())["alpha"])[3]; got != want {
			t.Errorf("late client: alpha/d = %s, want %s", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a client arriving after the hold was not answered at once")
	}
}

// A server stopped while it holds ends the held streams at once (clients
// see Unavailable and reconnect elsewhere) instead of waiting out the
// graceful stop's grace on them.
func TestStopDuringHoldEndsHeldStreams(t *testing.T) {
	f := newFixture()
	opts := xds.DefaultOptions()
	opts.HoldUntil = make(chan struct{}) // never closes
	opts.ShutdownGrace = 2 * waitTimeout // a stop that waited on the held stream would take this long
	srv := startServer(t, f.store, opts, "")
	s := newSotw(t, dial(t, srv.addr), envoyNode)
	s.request(typeCLA, []string{"alpha"}, "", "", "")
	select {
	case r := <-s.resps:
		t.Fatalf("answered during the hold: %s", r.GetTypeUrl())
	case <-time.After(quietFor):
	}
	stopped := make(chan struct{})
	go func() { srv.stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return while a stream was held")
	}
	select {
	case err := <-s.done:
		if status.Code(err) != codes.Unavailable {
			t.Errorf("held stream ended with %v, want Unavailable", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("held stream did not end")
	}
}
