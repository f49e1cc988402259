package metrics

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigilhq/vigil/replicas"
)

type fakeReplicas struct {
	list []replicas.ReplicaInfo
}

func (f *fakeReplicas) Replicas() []replicas.ReplicaInfo { return f.list }
func (f *fakeReplicas) Disagreements() int               { return 3 }
func (f *fakeReplicas) Ready() (bool, string)            { return true, "ok" }
func (f *fakeReplicas) Stats() replicas.Stats {
	return replicas.Stats{BytesSent: 500, HeartbeatBytesSent: 44, BytesReceived: 700, StreamsServed: 2}
}

// Each peer's series follow the replicas known at the scrape: a peer that
// goes away leaves none behind.
func TestReplicaMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	now := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	src := &fakeReplicas{list: []replicas.ReplicaInfo{
		{ID: "a", Self: true, Live: true, Writer: true, Voting: true, Connected: true},
		{ID: "b", Live: true, Voting: true, Connected: true, LastHeard: now.Add(-1500 * time.Millisecond)},
		{ID: "c", Live: true, Connected: false, LastHeard: now.Add(-7 * time.Second)},
	}}
	reg.MustRegister(newReplicaCollector(src, func() time.Time { return now }))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	got := scrape(t, srv.URL)
	expect(t, got, map[string]string{
		"vigil_replicas_live":                                    "3",
		"vigil_replicas_voting":                                  "2",
		"vigil_replica_writer":                                   "1",
		"vigil_replica_ready":                                    "1",
		"vigil_replica_disagreements":                            "3",
		`vigil_replica_peer_last_heard_seconds{peer="b"}`:        "1.5",
		`vigil_replica_peer_last_heard_seconds{peer="c"}`:        "7",
		`vigil_replica_peer_connected{peer="b"}`:                 "1",
		`vigil_replica_peer_connected{peer="c"}`:                 "0",
		`vigil_replica_stream_bytes_total{direction="sent"}`:     "500",
		`vigil_replica_stream_bytes_total{direction="received"}`: "700",
		"vigil_replica_heartbeat_bytes_sent_total":               "44",
		"vigil_replica_streams_served":                           "2",
	})
	src.list = src.list[:2]
	if _, ok := scrape(t, srv.URL)[`vigil_replica_peer_connected{peer="c"}`]; ok {
		t.Error("a peer that is gone still has series")
	}
}
