package api

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/vigilhq/vigil/membership"
)

// flap makes n transitions on web-1, alternating HEALTHY and UNHEALTHY,
// and one on db-1 in the middle.
func flap(store *membership.Store, n int) {
	for i := 0; i < n; i++ {
		to := membership.StatusUnhealthy
		if i%2 == 1 {
			to = membership.StatusHealthy
		}
		setStatus(store, "web", "web-1", to, fmt.Sprintf("flap %d", i))
		if i == n/2 {
			setStatus(store, "db", "db-1", membership.StatusHealthy, "recovered")
		}
	}
}

func TestEventsPaging(t *testing.T) {
	fx := newFixture(t, nil)
	flap(fx.store, 24) // 25 events, seq 1..25

	var seen []float64
	path := "/api/v1/events?limit=10"
	pages := 0
	for {
		code, page := fx.get(t, path)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %v", path, code, page)
		}
		pages++
		evs := page["events"].([]any)
		for _, e := range evs {
			ev := e.(map[string]any)
			if pages == 1 && len(seen) == 0 {
				hasKeys(t, "event", ev, "seq", "time", "kind", "cluster", "instance", "address", "from", "to", "reason")
			}
			seen = append(seen, ev["seq"].(float64))
		}
		next, ok := page["next"]
		if !ok {
			break
		}
		if next != evs[len(evs)-1].(map[string]any)["seq"] {
			t.Fatalf("next cursor %v is not the oldest seq of the page", next)
		}
		path = fmt.Sprintf("/api/v1/events?limit=10&before=%.0f", next)
	}
	if pages != 3 || len(seen) != 25 {
		t.Fatalf("%d pages, %d events; want 3 pages, 25 events", pages, len(seen))
	}
	for i, s := range seen {
		if s != float64(25-i) {
			t.Fatalf("events not newest first without gaps: %v", seen)
		}
	}

	code, page := fx.get(t, "/api/v1/events?cluster=db")
	evs := page["events"].([]any)
	if code != http.StatusOK || len(evs) != 1 {
		t.Fatalf("cluster=db: %d %v", code, page)
	}
	ev := evs[0].(map[string]any)
	if ev["instance"] != "db-1" || ev["from"] != "DEGRADED" || ev["to"] != "HEALTHY" || ev["reason"] != "recovered" || ev["kind"] != "transition" {
		t.Errorf("db event = %v", ev)
	}
	if _, ok := page["next"]; ok {
		t.Errorf("single page has a next cursor: %v", page)
	}

	_, page = fx.get(t, "/api/v1/events?cluster=web&instance=web-1&limit=3")
	if n := len(page["events"].([]any)); n != 3 || page["next"] == nil {
		t.Errorf("instance filter with limit 3: %d events, next %v", n, page["next"])
	}

	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	_, page = fx.get(t, "/api/v1/events?since="+future)
	if n := len(page["events"].([]any)); n != 0 {
		t.Errorf("since the future: %d events", n)
	}
	// fx's clock stands at t0, before the events (stamped with the wall
	// clock): "1h" back from t0 takes them all.
	_, page = fx.get(t, "/api/v1/events?since=1h")
	if n := len(page["events"].([]any)); n != 25 {
		t.Errorf("since=1h: %d events, want 25", n)
	}

	for _, bad := range []string{"limit=0", "limit=1001", "limit=x", "before=0", "before=-1", "since=yesterday"} {
		if code, body := fx.get(t, "/api/v1/events?"+bad); code != http.StatusBadRequest || body["error"] == nil {
			t.Errorf("?%s: %d %v, want 400 with an error", bad, code, body)
		}
	}
}
