package metrics

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	resource "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
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

// XDSTypes are the resource type URLs vigil serves over xDS: the type
// label of vigil_xds_pushes_total and vigil_xds_nacks_total, exported at
// zero from the start. A client naming any other type is counted as
// "other", so no client can mint label values.
var XDSTypes = []string{resource.EndpointType, resource.ClusterType, resource.ListenerType, resource.RouteType}

// ConsulWriteResults are the result label values of
// vigil_consul_writes_total, exported at zero from the start.
var ConsulWriteResults = []string{"ok", "error", "cas_conflict", "fenced"}

// xdsTypeLabel is the type label for a type URL.
func xdsTypeLabel(typeURL string) string {
	for _, t := range XDSTypes {
		if t == typeURL {
			return t
		}
	}
	return "other"
}

// Metrics holds every vigil collector. It implements aggregator.Observer
// and the hooks the xds and consul publishers call. All methods are safe
// for concurrent use.
type Metrics struct {
	probesTotal   *prometheus.CounterVec
	probeDuration *prometheus.HistogramVec
	instances     *prometheus.GaugeVec
	held          *prometheus.GaugeVec
	failSafe      prometheus.GaugeFunc
	failSafeOf    atomic.Pointer[func() membership.FailSafe] // read at each scrape
	transitions   *prometheus.CounterVec
	xdsStreams    prometheus.Gauge
	xdsPushes     *prometheus.CounterVec
	xdsNACKs      *prometheus.CounterVec
	consulWrites  *prometheus.CounterVec
	consulBreaker prometheus.Gauge
	eventsDropped prometheus.Counter
	skipped       *skipCounters

	// perCluster maps a cluster name to its pre-resolved probe children.
	// It is copied on write so ProbeDone reads it without locking.
	perCluster atomic.Pointer[map[string]*clusterProbes]
	mu         sync.Mutex // serialises writers of perCluster
}

// clusterProbes are one cluster's probe metric children, resolved once
// per probe the cluster has (nil for a probe it does not have). Never
// modified once stored in perCluster: a change stores a new one.
type clusterProbes struct {
	total    [len(probes)][len(outcomes)]prometheus.Counter
	duration [len(probes)]prometheus.Observer
	// specKnown: the cluster's spec has been seen, so a probe without
	// children is one the cluster does not have (a result of it is a late
	// one from before a reload, and is not counted).
	specKnown bool
}

func (cp *clusterProbes) has(pi int) bool { return cp != nil && cp.duration[pi] != nil }

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
		held: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_instances_held",
			Help: "Instances whose published status vigil holds against their probes, by cluster and cause (fail_safe, max_ejection_percent).",
		}, []string{"cluster", "cause"}),
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
	m.skipped = newSkipCounters()
	reg.MustRegister(m.skipped.vec)
	m.failSafe = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vigil_fail_safe_holding",
		Help: "1 while the fail-safe holds (probes fail at connection level across the fleet: vigil suspects its own network), else 0.",
	}, func() float64 {
		if f := m.failSafeOf.Load(); f != nil && (*f)().Holding {
			return 1
		}
		return 0
	})
	empty := map[string]*clusterProbes{}
	m.perCluster.Store(&empty)
	// Counters read as absent until their first event make rate() and
	// alerts on them blind; every known label value starts at zero.
	for _, t := range XDSTypes {
		m.xdsPushes.WithLabelValues(t)
		m.xdsNACKs.WithLabelValues(t)
	}
	for _, r := range ConsulWriteResults {
		m.consulWrites.WithLabelValues(r)
	}
	reg.MustRegister(m.probesTotal, m.probeDuration, m.instances, m.held, m.failSafe, m.transitions,
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

// ProbeDone records one probe outcome. After a cluster's probe was first
// seen it takes no lock and allocates nothing.
func (m *Metrics) ProbeDone(cluster string, probe membership.ProbeName, outcome membership.Outcome, latency time.Duration) {
	pi := probeIndex(probe)
	if pi < 0 {
		return // not a probe vigil has: nothing to count it under
	}
	cp := (*m.perCluster.Load())[cluster]
	if !cp.has(pi) {
		if cp = m.addProbe(cluster, pi); cp == nil {
			return
		}
	}
	oi := int(outcome)
	if oi >= len(outcomes) {
		oi = int(membership.OutcomeFail)
	}
	cp.total[pi][oi].Inc()
	cp.duration[pi].Observe(latency.Seconds())
}

// addProbe gives a cluster's probe its series, at zero, for a result that
// arrived before the cluster's spec did. It returns nil, adding nothing,
// when the spec is known and has no such probe.
func (m *Metrics) addProbe(cluster string, pi int) *clusterProbes {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := (*m.perCluster.Load())[cluster]
	switch {
	case cp.has(pi):
		return cp
	case cp != nil && cp.specKnown:
		return nil
	}
	next := &clusterProbes{}
	if cp != nil {
		*next = *cp
	}
	m.resolveProbe(next, cluster, pi)
	m.storeLocked(cluster, next)
	return next
}

// setProbes makes a cluster's probe series those of the probes its spec
// has: the missing ones are created at zero, those of a probe it no
// longer has are deleted.
func (m *Metrics) setProbes(cluster string, has [len(probes)]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := (*m.perCluster.Load())[cluster]
	if cp != nil && cp.specKnown && cp.has(0) == has[0] && cp.has(1) == has[1] {
		return
	}
	next := &clusterProbes{specKnown: true}
	for pi, p := range probes {
		switch {
		case has[pi] && cp.has(pi):
			next.total[pi], next.duration[pi] = cp.total[pi], cp.duration[pi]
		case has[pi]:
			m.resolveProbe(next, cluster, pi)
		default:
			labels := prometheus.Labels{"cluster": cluster, "probe": string(p)}
			m.probesTotal.DeletePartialMatch(labels)
			m.probeDuration.DeletePartialMatch(labels)
		}
	}
	m.storeLocked(cluster, next)
}

// resolveProbe creates one probe's children of a cluster in cp.
func (m *Metrics) resolveProbe(cp *clusterProbes, cluster string, pi int) {
	p := string(probes[pi])
	for oi, o := range outcomes {
		cp.total[pi][oi] = m.probesTotal.WithLabelValues(cluster, p, o.String())
	}
	cp.duration[pi] = m.probeDuration.WithLabelValues(cluster, p)
}

// storeLocked publishes a copy of perCluster with cluster's entry set to
// cp. m.mu is held.
func (m *Metrics) storeLocked(cluster string, cp *clusterProbes) {
	cur := *m.perCluster.Load()
	next := make(map[string]*clusterProbes, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	next[cluster] = cp
	m.perCluster.Store(&next)
}

// forgetCluster drops a removed cluster's series. It is remembered as a
// cluster without probes, so a result still in flight when it went does
// not bring them back (the cluster's return sets its probes again).
func (m *Metrics) forgetCluster(cluster string) {
	m.instances.DeletePartialMatch(prometheus.Labels{"cluster": cluster})
	m.held.DeletePartialMatch(prometheus.Labels{"cluster": cluster})
	m.mu.Lock()
	defer m.mu.Unlock()
	m.storeLocked(cluster, &clusterProbes{specKnown: true})
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
