package fleet

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func postFlip(t *testing.T, url, body string) (int, []Flip) {
	t.Helper()
	resp, err := http.Post(url+"/flip", "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck // a response body: nothing to lose
	var flips []Flip
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&flips); err != nil {
			t.Fatalf("decode flips: %v", err)
		}
	}
	return resp.StatusCode, flips
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck // a response body: nothing to lose
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decode %s: %v", url, err)
	}
}

// TestControlAPI drives a fleet through its HTTP control API and checks the
// instances really changed.
func TestControlAPI(t *testing.T) {
	t.Parallel()
	f := startFleet(t, Spec{N: 20})
	srv := httptest.NewServer(f.ControlHandler())
	defer srv.Close()
	c := newClient(t)

	var insts []Instance
	getJSON(t, srv.URL+"/instances", &insts)
	if len(insts) != 20 {
		t.Fatalf("%d instances, want 20", len(insts))
	}
	for i, in := range insts {
		if in.State != StateReady || in.Address == "" || in.Format != HTTPFormats()[i%len(HTTPFormats())] || in.ReadinessPath == "" {
			t.Errorf("instance %d: %+v", i, in)
		}
	}

	before := time.Now()
	code, flips := postFlip(t, srv.URL, `{"ids":["inst-2","inst-8"],"state":"draining"}`)
	if code != 200 || len(flips) != 2 || flips[0].ID != "inst-2" || flips[1].To != StateDraining || flips[0].From != StateReady || flips[0].Time.Before(before) {
		t.Fatalf("flip ids: %d %+v", code, flips)
	}
	hz := insts[2] // healthz
	if got := get(t, c, hz.Address, hz.ReadinessPath); got.code != 503 || got.body != `{"status":"not_ready","draining":true}` {
		t.Errorf("drained instance answers %d %s", got.code, got.body)
	}

	code, flips = postFlip(t, srv.URL, `{"share":0.25,"state":"dead","seed":7}`)
	if code != 200 || len(flips) != 5 {
		t.Fatalf("flip share: %d, %d flips, want 5", code, len(flips))
	}
	for _, fl := range flips {
		in, _ := f.Lookup(fl.ID)
		if in.State != StateDead {
			t.Errorf("%s: state %s after share flip", fl.ID, in.State)
		}
		if _, err := tryGet(c, in.Address, in.ReadinessPath); err == nil {
			t.Errorf("%s answered after dying", fl.ID)
		}
	}

	var all []Flip
	getJSON(t, srv.URL+"/flips", &all)
	if len(all) != 7 {
		t.Errorf("GET /flips: %d flips, want 7", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].Time.Before(all[i-1].Time) {
			t.Errorf("flips out of order at %d", i)
		}
	}

	for _, bad := range []string{
		`{"ids":["nope"],"state":"ready"}`,
		`{"ids":["inst-1"],"state":"sideways"}`,
		`{"share":1.5,"state":"ready"}`,
		`{"state":"ready"}`,
		`{"ids":["inst-1"],"share":0.1,"state":"ready"}`,
		`{"ids":["inst-1"],"state":"ready","extra":1}`,
		`not json`,
	} {
		if code, _ := postFlip(t, srv.URL, bad); code != http.StatusBadRequest {
			t.Errorf("POST /flip %s: %d, want 400", bad, code)
		}
	}
	getJSON(t, srv.URL+"/flips", &all)
	if len(all) != 7 {
		t.Errorf("bad requests recorded flips: %d, want 7", len(all))
	}
}
