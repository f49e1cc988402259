package metrics

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vigilhq/vigil/membership"
)

// probeBuckets suit probe latencies from loopback (sub-millisecond) to the
// longest sensible timeout.
var probeBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// outcomes are the values of the result label, indexed by membership.Outcome.
var outcomes = [...]membership.Outcome{membership.OutcomePass, membership.OutcomeDegraded, membership.OutcomeDrain, membership.OutcomeFail}

// probes are the values of the probe label, indexed as probeIndex returns.
var probes = [...]membership.ProbeName{membership.Liveness, membership.Readiness}

// Metrics holds every vigil collector. It implements aggregator.Observer
// and the hooks the xds and consul publishers call. All methods are safe
// for concurrent use.
type Metrics struct {
	probesTotal   *prometheus.CounterVec
	probeDuration *prometheus.HistogramVec
	instances     *prometheus.GaugeVec
	transitions   *prometheus.CounterVec
	xdsStreams    prometheus.Gauge
	xdsPushes     *prometheus.CounterVec
	xdsNACKs      *prometheus.CounterVec
	consulWrites  *prometheus.CounterVec
	consulBreaker prometheus.Gauge
	eventsDropped prometheus.Counter

	// perCluster maps a cluster name to its pre-resolved probe children.
	// It is copied on write so ProbeDone reads it without locking.
	perCluster atomic.Pointer[map[string]*clusterProbes]
	mu         sync.Mutex // serialises writers of perCluster
}

// clusterProbes are one cluster's probe metric children, resolved once.
type clusterProbes struct {
	total    [len(probes)][len(outcomes)]prometheus.Counter
	duration [len(probes)]prometheus.Observer
}

// New creates vigil's collectors and registers them, with the Go and
// process collectors, on reg. Go and process collectors that reg already
// holds are kept. It panics if a vigil metric is already registered, which
// is a programming error.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		probesTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_probes_total",
			Help: "Probes completed, by cluster, probe (liveness or readiness) and result (pass, degraded, drain, fail).",
		}, []string{"cluster", "probe", "result"}),
		probeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vigil_probe_duration_seconds",
			Help:    "Probe latency, by cluster and probe.",
			Buckets: probeBuckets,
		}, []string{"cluster", "probe"}),
		instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_instances",
			Help: "Instances by cluster and published status.",
		}, []string{"cluster", "status"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_transitions_total",
			Help: "Published status changes, by cluster, previous and new status.",
		}, []string{"cluster", "from", "to"}),
		xdsStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_xds_streams",
			Help: "Open xDS streams.",
		}),
		xdsPushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_xds_pushes_total",
			Help: "xDS responses sent, by resource type URL.",
		}, []string{"type"}),
		xdsNACKs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_xds_nacks_total",
			Help: "xDS responses rejected by a client, by resource type URL.",
		}, []string{"type"}),
		consulWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_consul_writes_total",
			Help: "Writes to the Consul catalog, by result.",
		}, []string{"result"}),
		consulBreaker: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_consul_breaker_state",
			Help: "State of the Consul circuit breaker: 0 closed, 1 half-open, 2 open.",
		}),
		eventsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_metrics_events_dropped_total",
			Help: "Membership events the metrics subscriber missed because it fell behind (transitions are undercounted by this much).",
		}),
	}
	empty := map[string]*clusterProbes{}
	m.perCluster.Store(&empty)
	reg.MustRegister(m.probesTotal, m.probeDuration, m.instances, m.transitions,
		m.xdsStreams, m.xdsPushes, m.xdsNACKs, m.consulWrites, m.consulBreaker, m.eventsDropped)
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				panic(err)
			}
		}
	}
	return m
}

// ProbeDone records one probe outcome. After a cluster's first call it
// takes no lock and allocates nothing.
func (m *Metrics) ProbeDone(cluster string, probe membership.ProbeName, outcome membership.Outcome, latency time.Duration) {
	pi := probeIndex(probe)
	if pi < 0 {
		// Not one of the two known probes: slow path, still bounded labels.
		m.probesTotal.WithLabelValues(cluster, string(probe), outcome.String()).Inc()
		m.probeDuration.WithLabelValues(cluster, string(probe)).Observe(latency.Seconds())
		return
	}
	cp := (*m.perCluster.Load())[cluster]
	if cp == nil {
		cp = m.resolve(cluster)
	}
	oi := int(outcome)
	if oi >= len(outcomes) {
		oi = int(membership.OutcomeFail)
	}
	cp.total[pi][oi].Inc()
	cp.duration[pi].Observe(latency.Seconds())
}

// resolve returns the children of a cluster, creating them on first use.
func (m *Metrics) resolve(cluster string) *clusterProbes {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := *m.perCluster.Load()
	if cp := cur[cluster]; cp != nil {
		return cp
	}
	cp := &clusterProbes{}
	for pi, p := range probes {
		for oi, o := range outcomes {
			cp.total[pi][oi] = m.probesTotal.WithLabelValues(cluster, string(p), o.String())
		}
		cp.duration[pi] = m.probeDuration.WithLabelValues(cluster, string(p))
	}
	next := make(map[string]*clusterProbes, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	next[cluster] = cp
	m.perCluster.Store(&next)
	return cp
}

// forgetCluster drops a removed cluster's series.
func (m *Metrics) forgetCluster(cluster string) {
	m.instances.DeletePartialMatch(prometheus.Labels{"cluster": cluster})
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := *m.perCluster.Load()
	if _, ok := cur[cluster]; !ok {
		return
	}
	next := make(map[string]*clusterProbes, len(cur))
	for k, v := range cur {
		if k != cluster {
			next[k] = v
		}
	}
	m.perCluster.Store(&next)
	m.probesTotal.DeletePartialMatch(prometheus.Labels{"cluster": cluster})
	m.probeDuration.DeletePartialMatch(prometheus.Labels{"cluster": cluster})
	m.transitions.DeletePartialMatch(prometheus.Labels{"cluster": cluster})
}

func probeIndex(p membership.ProbeName) int {
	switch p {
	case membership.Liveness:
		return 0
	case membership.Readiness:
		return 1
	}
	return -1
}
