package e2e

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/consul/consultest"
	"github.com/vigilhq/vigil/internal/proctest"
	"github.com/vigilhq/vigil/internal/runtest"
)

// A replica's /metrics has the replica series with what the run shows
// (three live and voting, one writer among them) and passes `promtool
// check metrics` when promtool is installed.
func TestReplicaMetrics(t *testing.T) {
	agent := consultest.StartForTest(t)
	s := newSetup(t, agent, startInstances(t, "127.0.0.1", 4))
	reps, _, _ := threeReplicas(t, s)
	waitWriter(t, 10*time.Second, reps...)
	writers := 0
	for _, r := range reps {
		if got := r.metric("vigil_replicas_live"); got != "3" {
			t.Errorf("%s: vigil_replicas_live %q, want 3", r.id, got)
		}
		if got := r.metric("vigil_replicas_voting"); got != "3" {
			t.Errorf("%s: vigil_replicas_voting %q, want 3", r.id, got)
		}
		if r.metric("vigil_replica_writer") == "1" {
			writers++
		}
	}
	if writers != 1 {
		t.Errorf("%d replicas export vigil_replica_writer 1, want 1", writers)
	}
	resp, err := httpClient.Get("http://" + reps[0].admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close() // a response body: nothing to lose
	for _, want := range []string{`vigil_replica_peer_last_heard_seconds{peer="b"}`, `vigil_replica_stream_bytes_total{direction="sent"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	proctest.Promlint(t, body)
}

// A replica started with the ID of a live one stops at once with an error
// that names replicas.id, and the live one goes on.
func TestDuplicateIDStopsVigil(t *testing.T) {
	agent := consultest.StartForTest(t)
	s := newSetup(t, agent, startInstances(t, "127.0.0.1", 2))
	a := s.startReplica("a")
	runtest.Eventually(t, 20*time.Second, "a ready", func() error {
		if !a.ready() {
			return fmt.Errorf("not ready")
		}
		return nil
	})
	s.dir = t.TempDir() // its own config file and state_dir, the same replicas.id
	twin := s.startReplica("a")
	select {
	case <-twin.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("a second replica with id a still runs after 20s")
	}
	twin.mu.Lock()
	code, out := twin.code, twin.out.String()
	twin.mu.Unlock()
	if code != 1 || !strings.Contains(out, `replicas.id \"a\"`) || !strings.Contains(out, "give every replica its own id") {
		t.Errorf("exit code %d, output:\n%s", code, tail(out, 2000))
	}
	if !a.ready() {
		t.Error("the first replica a is no longer ready")
	}
}
