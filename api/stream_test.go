package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/membership"
)

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct {
	ID   string
	Name string
	Data string
}

// sseClient reads a stream event by event on a goroutine.
type sseClient struct {
	resp   *http.Response
	cancel context.CancelFunc
	events chan sseEvent
	ended  chan struct{}
}

func openStream(t *testing.T, url string, lastID string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("stream: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	c := &sseClient{resp: resp, cancel: cancel, events: make(chan sseEvent, 1000), ended: make(chan struct{})}
	go func() {
		defer close(c.ended)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Data != "" {
					c.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.Name = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.Data = line[6:]
			case line == ": ping":
				c.events <- sseEvent{Name: "ping"}
			}
		}
	}()
	t.Cleanup(c.close)
	return c
}

func (c *sseClient) close() {
	c.cancel()
	_ = c.resp.Body.Close() // ends the stream: nothing to lose
	<-c.ended
}

// next returns the next event that is not a heartbeat.
func (c *sseClient) next(t *testing.T) sseEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-c.events:
			if ev.Name == "ping" {
				continue
			}
			return ev
		case <-c.ended:
			t.Fatal("stream ended while waiting for an event")
		case <-timeout:
			t.Fatal("no event within 10s")
		}
	}
}

func (c *sseClient) expectHello(t *testing.T) map[string]any {
	t.Helper()
	ev := c.next(t)
	if ev.Name != "hello" {
		t.Fatalf("first event %+v, want hello", ev)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(ev.Data), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// expectMember reads one membership event and checks it.
func (c *sseClient) expectMember(t *testing.T, seq uint64, instance string, to membership.Status) membership.Event {
	t.Helper()
	ev := c.next(t)
	if ev.Name != "" {
		t.Fatalf("got %q event %s, want a membership event", ev.Name, ev.Data)
	}
	var got membership.Event
	if err := json.Unmarshal([]byte(ev.Data), &got); err != nil {
		t.Fatalf("event data %q: %v", ev.Data, err)
	}
	if ev.ID != fmt.Sprint(seq) || got.Seq != seq || got.Instance != instance || got.To != to {
		t.Fatalf("event id=%s %+v, want seq %d %s -> %s", ev.ID, got, seq, instance, to)
	}
	return got
}

func TestStreamDeliversAndResumes(t *testing.T) {
	fx := newFixture(t, nil)
	url := fx.http.URL + "/api/v1/events/stream"

	c := openStream(t, url, "")
	if h := c.expectHello(t); h["resumed"] != false {
		t.Errorf("hello = %v", h)
	}
	setStatus(fx.store, "web", "web-2", membership.StatusUnhealthy, "readiness: 503 (3 in a row)")
	setStatus(fx.store, "web", "web-3", membership.StatusHealthy, "readiness: 200 ready (2 in a row)")
	ev := c.expectMember(t, 1, "web-2", membership.StatusUnhealthy)
	if ev.From != membership.StatusHealthy || ev.Cluster != "web" || ev.Reason != "readiness: 503 (3 in a row)" || ev.Kind != membership.EventTransition {
		t.Errorf("event 1 = %+v", ev)
	}
	c.expectMember(t, 2, "web-3", membership.StatusHealthy)
	c.close()

	// While disconnected, two more events happen.
	setStatus(fx.store, "db", "db-1", membership.StatusUnhealthy, "x")
	setStatus(fx.store, "web", "web-1", membership.StatusDegraded, "y")

	// Resume after event 2: the two missed ones come first, then live ones.
	c = openStream(t, url, "2")
	if h := c.expectHello(t); h["resumed"] != true || h["last_seq"] != 4.0 {
		t.Errorf("resume hello = %v", h)
	}
	c.expectMember(t, 3, "db-1", membership.StatusUnhealthy)
	c.expectMember(t, 4, "web-1", membership.StatusDegraded)
	setStatus(fx.store, "web", "web-1", membership.StatusHealthy, "z")
	c.expectMember(t, 5, "web-1", membership.StatusHealthy)

	// A filtered stream sees only its cluster.
	f := openStream(t, url+"?cluster=db", "")
	f.expectHello(t)
	setStatus(fx.store, "web", "web-2", membership.StatusHealthy, "back")
	setStatus(fx.store, "db", "db-1", membership.StatusHealthy, "back")
	f.expectMember(t, 7, "db-1", membership.StatusHealthy)
	c.expectMember(t, 6, "web-2", membership.StatusHealthy)
	c.expectMember(t, 7, "db-1", membership.StatusHealthy)
}

func TestStreamResyncs(t *testing.T) {
	fx := newFixture(t, nil)
	small := membership.NewStore(3) // keeps only 3 events
	seedStore(small)
	srv := New(Options{Store: small, Token: "t", Logger: quiet})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	defer srv.Close()
	for i := 0; i < 6; i++ {
		setStatus(small, "web", "web-1", membership.Statuses[i%2], "flap")
	}

	// Event 1 is long gone: resync, then what history still holds.
	c := openStream(t, hs.URL+"/api/v1/events/stream", "1")
	c.expectHello(t)
	if ev := c.next(t); ev.Name != "resync" || !strings.Contains(ev.Data, "history_evicted") {
		t.Fatalf("got %+v, want a resync for evicted history", ev)
	}
	c.expectMember(t, 4, "web-1", membership.StatusDegraded)
	c.expectMember(t, 5, "web-1", membership.StatusHealthy)
	c.expectMember(t, 6, "web-1", membership.StatusDegraded)

	// An id from an earlier run (beyond the newest): resync, then live.
	c = openStream(t, fx.http.URL+"/api/v1/events/stream", "999")
	c.expectHello(t)
	if ev := c.next(t); ev.Name != "resync" || !strings.Contains(ev.Data, "unknown_event_id") {
		t.Fatalf("got %+v, want a resync for an unknown id", ev)
	}
	setStatus(fx.store, "web", "web-1", membership.StatusDraining, "d")
	c.expectMember(t, 1, "web-1", membership.StatusDraining)

	if code, body := fx.get(t, "/api/v1/events/stream?last_event_id=abc"); code != http.StatusBadRequest {
		t.Errorf("bad last_event_id: %d %v", code, body)
	}
}

func TestStreamAnnouncesClusterChangesAndHeartbeats(t *testing.T) {
	fx := newFixture(t, func(o *Options) { o.Heartbeat = 20 * time.Millisecond })
	c := openStream(t, fx.http.URL+"/api/v1/events/stream", "")
	c.expectHello(t)
	fx.store.RemoveCluster("db", nil)
	if ev := c.next(t); ev.Name != "clusters" || ev.Data != `{"added":[],"removed":["db"]}` {
		t.Fatalf("got %+v, want a clusters event removing db", ev)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-c.events:
			if ev.Name == "ping" {
				return
			}
		case <-deadline:
			t.Fatal("no heartbeat within 10s")
		}
	}
}

// TestStreamEnds checks that a stream's handler returns when its client
// goes away and when the server closes.
func TestStreamEnds(t *testing.T) {
	store := membership.NewStore(10)
	seedStore(store)
	srv := New(Options{Store: store, Logger: quiet})
	returned := make(chan struct{}, 2)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv.Handler().ServeHTTP(w, r)
		returned <- struct{}{}
	}))
	defer hs.Close()
	url := hs.URL + "/api/v1/events/stream"

	c := openStream(t, url, "")
	c.expectHello(t)
	c.close()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("handler still running after the client went away")
	}

	c = openStream(t, url, "")
	c.expectHello(t)
	srv.Close()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("handler still running after Server.Close")
	}
	select {
	case <-c.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("client stream not ended after Server.Close")
	}
}

// A cluster removed after a client subscribed but before its stream read
// the first batch is coalesced out of that batch's state: the removal must
// still be announced.
func TestStreamAnnouncesARemovalInTheFirstBatch(t *testing.T) {
	var out bytes.Buffer
	sw := &streamWriter{w: bufio.NewWriter(&out)}
	s := &Server{}
	known := map[string]bool{}
	var last uint64
	first := membership.Batch{Changed: []*membership.ClusterSnapshot{{Name: "web"}}, Removed: []string{"db"}}
	s.writeBatch(sw, first, streamFilter{}, known, true, &last)
	if err := sw.w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "event: clusters\n") || !strings.Contains(got, `{"added":[],"removed":["db"]}`) {
		t.Fatalf("first batch wrote %q, want the removal of db announced and web not announced as added", got)
	}
	if !known["web"] || known["db"] {
		t.Fatalf("known clusters after the first batch: %v", known)
	}
}
