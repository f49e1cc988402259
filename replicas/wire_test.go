package replicas

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/membership"
)

func TestLineRoundTrip(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	p := peerMember{addr: "10.0.0.1:80", verdict: membership.Verdict{Live: pP, Ready: pD, Degraded: true},
		status: membership.StatusDraining, reason: "readiness: draining", since: since}
	for _, id := range []string{"10.0.0.1:80", "web-1"} {
		b := encodeLine(memberLine("web", id, p))
		if id == p.addr && strings.Contains(string(b), `"a":`) {
			t.Errorf("the address is sent though it equals the ID: %s", b)
		}
		l, err := decodeLine(b)
		if err != nil {
			t.Fatal(err)
		}
		k, got, err := l.member()
		if err != nil || k != (memberKey{"web", id}) || !got.same(p) {
			t.Fatalf("%s: got %v %+v %v, want %+v", b, k, got, err, p)
		}
	}
	if got := truncate("héllo", 2); got != "h" {
		t.Errorf("truncate cut a rune: %q", got)
	}
	long := compact(&membership.Member{Reason: strings.Repeat("x", 5000)})
	if len(long.reason) != maxReason {
		t.Errorf("reason of %d bytes sent", len(long.reason))
	}
}

// A peer that sends something other than the protocol is dropped with an
// error that says what was wrong; nothing it sent counts.
func TestPeerRejectsBadStreams(t *testing.T) {
	c, err := consulapi.NewClient(consulapi.DefaultConfig()) // never called
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Options{ID: "a", Advertise: "127.0.0.1:1", Consul: c, Local: membership.NewStore(10),
		Merged: membership.NewStore(10), Heartbeat: 100 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	hello := `{"t":"hello","id":"b","epoch":"e","proto":1}` + "\n"
	member := `{"t":"m","c":"web","i":"x:1","v":{"live":"passing","ready":"failing"},"s":"UNHEALTHY"}` + "\n"
	cases := []struct {
		name, body, want string
		status           int
	}{
		{"not ndjson", "<html>\n", "malformed line", 200},
		{"no hello", member, `"m" line before hello`, 200},
		{"another replica", `{"t":"hello","id":"z","proto":1}` + "\n", `hello from replica "z"`, 200},
		{"another protocol", `{"t":"hello","id":"b","proto":9}` + "\n", "protocol 9", 200},
		{"unknown phase", hello + `{"t":"m","c":"web","i":"x:1","v":{"live":"sideways"}}` + "\n", "unknown probe phase", 200},
		{"member without cluster", hello + `{"t":"m","i":"x:1"}` + "\n", "without cluster", 200},
		{"a line too long", hello + `{"t":"m","r":"` + strings.Repeat("x", maxLine) + "\"}\n", "longer than", 200},
		{"an error status", "", "503", 503},
		{"silence after the snapshot", hello + member + `{"t":"end"}` + "\n", "stalled", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = fmt.Fprint(w, tc.body) // a failed write shows in what the client gets
				w.(http.Flusher).Flush()
				<-req.Context().Done()
			}))
			defer srv.Close()
			p := &peer{r: r, id: "b", advertise: strings.TrimPrefix(srv.URL, "http://")}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			snapshotted, err := p.stream(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("stream error %v, want one saying %q", err, tc.want)
			}
			if tc.name != "silence after the snapshot" && (snapshotted || p.view != nil) {
				t.Errorf("a bad stream's content counted: view %v", p.view)
			}
		})
	}
	// Only GET is served.
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, DefaultStreamPath, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}
