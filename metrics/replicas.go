package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilhq/vigil/replicas"
)

// ReplicaSource is what the replica metrics read (replicas.Replica).
type ReplicaSource interface {
	Replicas() []replicas.ReplicaInfo
	Disagreements() int
	Stats() replicas.Stats
	Ready() (bool, string)
}

// replicaCollector reads a replica's state at every scrape: nothing to
// keep in step, and peers that go away leave no stale series.
type replicaCollector struct {
	src ReplicaSource
	now func() time.Time

	live, voting, writer, ready, disagree, lastHeard, connected, bytes, heartbeat, streams *prometheus.Desc
}

// RegisterReplicas adds the metrics of a replicated vigil to reg:
// how many replicas are live and voting, whether this one writes the
// Consul catalog, verdict disagreements, seconds since each peer was last
// heard, and the bytes exchanged between replicas.
func RegisterReplicas(reg prometheus.Registerer, src ReplicaSource) error {
	return reg.Register(newReplicaCollector(src, time.Now))
}

func newReplicaCollector(src ReplicaSource, now func() time.Time) *replicaCollector {
	peer := []string{"peer"}
	return &replicaCollector{src: src, now: now,
		live: prometheus.NewDesc("vigil_replicas_live",
			"Replicas registered in Consul, this one included.", nil, nil),
		voting: prometheus.NewDesc("vigil_replicas_voting",
			"Replicas whose verdicts count in this replica's merged view, this one included.", nil, nil),
		writer: prometheus.NewDesc("vigil_replica_writer",
			"1 while this replica holds the Consul catalog writer lock.", nil, nil),
		ready: prometheus.NewDesc("vigil_replica_ready",
			"1 once this replica has merged its live peers' verdicts after start (or its bounded wait passed).", nil, nil),
		disagree: prometheus.NewDesc("vigil_replica_disagreements",
			"Instances on which the voting replicas do not all give the same verdict.", nil, nil),
		lastHeard: prometheus.NewDesc("vigil_replica_peer_last_heard_seconds",
			"Seconds since the last line of a peer's verdict stream.", peer, nil),
		connected: prometheus.NewDesc("vigil_replica_peer_connected",
			"1 while a peer's verdict stream is open and past its snapshot.", peer, nil),
		bytes: prometheus.NewDesc("vigil_replica_stream_bytes_total",
			"Bytes of verdict streams sent to and received from peers.", []string{"direction"}, nil),
		heartbeat: prometheus.NewDesc("vigil_replica_heartbeat_bytes_sent_total",
			"Of the bytes sent to peers, those of heartbeat lines.", nil, nil),
		streams: prometheus.NewDesc("vigil_replica_streams_served",
			"Verdict streams open to peers.", nil, nil),
	}
}

func (c *replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.live, c.voting, c.writer, c.ready, c.disagree, c.lastHeard, c.connected,
		c.bytes, c.heartbeat, c.streams} {
		ch <- d
	}
}

func (c *replicaCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	var live, voting, writer float64
	for _, r := range c.src.Replicas() {
		if r.Live {
			live++
		}
		if r.Voting {
			voting++
		}
		if r.Self {
			writer = boolGauge(r.Writer)
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.connected, prometheus.GaugeValue, boolGauge(r.Connected), r.ID)
		if !r.LastHeard.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.lastHeard, prometheus.GaugeValue, now.Sub(r.LastHeard).Seconds(), r.ID)
		}
	}
	ready, _ := c.src.Ready()
	st := c.src.Stats()
	ch <- prometheus.MustNewConstMetric(c.live, prometheus.GaugeValue, live)
	ch <- prometheus.MustNewConstMetric(c.voting, prometheus.GaugeValue, voting)
	ch <- prometheus.MustNewConstMetric(c.writer, prometheus.GaugeValue, writer)
	ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, boolGauge(ready))
	ch <- prometheus.MustNewConstMetric(c.disagree, prometheus.GaugeValue, float64(c.src.Disagreements()))
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(st.BytesSent), "sent")
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(st.BytesReceived), "received")
	ch <- prometheus.MustNewConstMetric(c.heartbeat, prometheus.CounterValue, float64(st.HeartbeatBytesSent))
	ch <- prometheus.MustNewConstMetric(c.streams, prometheus.GaugeValue, float64(st.StreamsServed))
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
