package fleet

import (
	"errors"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestFlipsRecorded checks that every change is recorded in order with the
// time Set returned, and that no-op flips are not recorded.
func TestFlipsRecorded(t *testing.T) {
	t.Parallel()
	f := startFleet(t, Spec{N: 3, Formats: []Format{FormatHealthz}})
	ids := []string{"inst-0", "inst-1", "inst-2"}
	steps := []struct {
		id string
		to State
	}{{ids[0], StateNotReady}, {ids[1], StateDraining}, {ids[0], StateReady}, {ids[2], StateDead}, {ids[2], StateReady}}
	var times []time.Time
	for _, s := range steps {
		before := time.Now()
		at := mustSet(t, f, s.id, s.to)
		if at.Before(before) || at.After(time.Now()) {
			t.Errorf("flip time %v outside the Set call", at)
		}
		times = append(times, at)
	}
	if at := mustSet(t, f, ids[1], StateDraining); !at.IsZero() {
		t.Errorf("no-op flip returned %v, want zero time", at)
	}
	flips := f.Flips()
	if len(flips) != len(steps) {
		t.Fatalf("%d flips recorded, want %d: %+v", len(flips), len(steps), flips)
	}
	from := map[string]State{ids[0]: StateReady, ids[1]: StateReady, ids[2]: StateReady}
	for i, fl := range flips {
		want := Flip{ID: steps[i].id, From: from[steps[i].id], To: steps[i].to, Time: times[i]}
		if fl != want {
			t.Errorf("flip %d = %+v, want %+v", i, fl, want)
		}
		from[steps[i].id] = steps[i].to
	}
	if _, err := f.Set("nope", StateReady); err == nil {
		t.Error("Set of an unknown instance succeeded")
	}
	if _, err := f.Set(ids[0], State("sideways")); err == nil {
		t.Error("Set to an unknown state succeeded")
	}
	if in, _ := f.Lookup(ids[1]); in.State != StateDraining {
		t.Errorf("Lookup state %s, want draining", in.State)
	}
}

// TestDeadAndBack checks that a dead instance refuses connections, drops
// kept-alive ones, and serves again on the same address when it recovers.
func TestDeadAndBack(t *testing.T) {
	t.Parallel()
	f := startFleet(t, Spec{N: 2, Formats: []Format{FormatStatus}})
	in := f.Instances()[0]
	other := f.Instances()[1]

	// A kept-alive raw connection, to see it closed by the server.
	conn, err := net.Dial("tcp", in.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close() //nolint:errcheck // test cleanup
	if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	if n, err := conn.Read(buf); err != nil || n == 0 {
		t.Fatalf("read first response: %d %v", n, err)
	}

	mustSet(t, f, in.ID, StateDead)
	if _, err := net.DialTimeout("tcp", in.Address, 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial dead instance: %v, want connection refused", err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := conn.Read(buf); err == nil {
		t.Errorf("kept-alive connection still open after death: read %d bytes", n)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("kept-alive connection not closed after death")
	}
	c := newClient(t)
	if got := get(t, c, other.Address, "/ready"); got.code != 200 {
		t.Errorf("neighbour of dead instance: status %d", got.code)
	}
	if got := f.Instances()[0]; got.State != StateDead || got.Address != in.Address {
		t.Errorf("dead instance listed as %+v", got)
	}

	mustSet(t, f, in.ID, StateNotReady)
	if got := get(t, c, in.Address, "/ready"); got.code != 503 || got.body != "unavailable" {
		t.Errorf("back as notready: %d %q", got.code, got.body)
	}
	if got := get(t, c, in.Address, "/healthz"); got.code != 200 {
		t.Errorf("back as notready, liveness: %d", got.code)
	}
	mustSet(t, f, in.ID, StateReady)
	if got := get(t, c, in.Address, "/ready"); got.code != 200 || got.body != "ok" {
		t.Errorf("back as ready: %d %q", got.code, got.body)
	}
}

// TestStartDead checks that a fleet can start with every instance dead.
func TestStartDead(t *testing.T) {
	t.Parallel()
	f := startFleet(t, Spec{N: 2, Initial: StateDead, Formats: []Format{FormatHealthz, FormatGRPC}})
	for _, in := range f.Instances() {
		if _, err := net.DialTimeout("tcp", in.Address, 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("%s: dial: %v, want connection refused", in.ID, err)
		}
	}
	in := f.Instances()[0]
	mustSet(t, f, in.ID, StateReady)
	if got := get(t, newClient(t), in.Address, "/readyz"); got.code != 200 {
		t.Errorf("revived: status %d", got.code)
	}
}

// TestSlow checks that a slow instance answers after SlowDelay without
// holding up other instances.
func TestSlow(t *testing.T) {
	t.Parallel()
	const delay = 800 * time.Millisecond
	f := startFleet(t, Spec{N: 2, Formats: []Format{FormatHealthz}, SlowDelay: delay})
	slow, fast := f.Instances()[0], f.Instances()[1]
	mustSet(t, f, slow.ID, StateSlow)
	c := newClient(t)

	var wg sync.WaitGroup
	var slowGot probeResult
	var slowTook time.Duration
	slowStarted := time.Now()
	wg.Add(1)
	go func() {
		defer wg.Done()
		r, err := tryGet(c, slow.Address, "/readyz")
		if err != nil {
			t.Errorf("slow GET: %v", err)
		}
		slowGot, slowTook = r, time.Since(slowStarted)
	}()
	// While the slow probe waits, the other instance answers.
	got := get(t, c, fast.Address, "/readyz")
	fastTook := time.Since(slowStarted)
	wg.Wait()
	if got.code != 200 {
		t.Errorf("fast instance: status %d", got.code)
	}
	if slowTook < delay {
		t.Errorf("slow instance answered after %v, want at least %v", slowTook, delay)
	}
	if slowGot.code != 200 || slowGot.body != `{"status":"ready","checks":{"store":"ok"}}` {
		t.Errorf("slow instance answered %d %q, want the ready answer", slowGot.code, slowGot.body)
	}
	if fastTook >= slowTook {
		t.Errorf("fast instance (%v) waited for the slow one (%v)", fastTook, slowTook)
	}

	// A client that gives up early gets a timeout.
	impatient := &http.Client{Transport: c.Transport, Timeout: delay / 4}
	if _, err := tryGet(impatient, slow.Address, "/healthz"); err == nil {
		t.Error("impatient client got an answer from a slow instance")
	}
}

// TestClosedFleet checks that Set fails after Close and Close is idempotent.
func TestClosedFleet(t *testing.T) {
	t.Parallel()
	f := startFleet(t, Spec{N: 1})
	in := f.Instances()[0]
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Set(in.ID, StateDead); err == nil {
		t.Error("Set after Close succeeded")
	}
	if _, err := net.DialTimeout("tcp", in.Address, 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial closed fleet: %v, want connection refused", err)
	}
}

// TestStartErrors checks that a taken port or a non-loopback host fails Start.
func TestStartErrors(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() //nolint:errcheck // test cleanup
	port := ln.Addr().(*net.TCPAddr).Port
	if f, err := Start(t.Context(), Spec{N: 1, Port: port}); err == nil || !errors.Is(err, syscall.EADDRINUSE) {
		if f != nil {
			_ = f.Close() // the test fails anyway
		}
		t.Errorf("Start on a taken port: %v, want address in use", err)
	}
	for _, spec := range []Spec{{N: 1, Host: "10.0.0.1"}, {N: 3, Host: "127.255.255.255", PerHost: 1}, {N: 1, Formats: []Format{"bogus"}}, {N: 2, Port: 65535}} {
		if f, err := Start(t.Context(), spec); err == nil {
			_ = f.Close() // the test fails anyway
			t.Errorf("Start(%+v) succeeded", spec)
		}
	}
}
