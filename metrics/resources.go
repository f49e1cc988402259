package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilhq/vigil/internal/fdbudget"
)

// SkipCauses are the cause label values of vigil_probes_skipped_total,
// exported at zero from the start. They are the aggregator's
// probe.SkipCauses, which this package cannot import (publishers never
// import the aggregator); a test there keeps the two equal. A cause not
// listed is counted as "other".
var SkipCauses = []string{"fd_budget", "fd_limit", "local_ports", "no_buffers", "late"}

// skipCounters is vigil_probes_skipped_total, one child per known cause,
// resolved once so that counting a skip takes no lock.
type skipCounters struct {
	vec    *prometheus.CounterVec
	causes map[string]prometheus.Counter // read-only after newSkipCounters
}

func newSkipCounters() *skipCounters {
	s := &skipCounters{
		vec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_probes_skipped_total",
			Help: "Probes not run, or whose result was not counted, because of a fault of vigil's own (out of file descriptors, local ports or socket buffers, no fd budget slot, started too late), by cause; the instance kept its verdict.",
		}, []string{"cause"}),
		causes: map[string]prometheus.Counter{},
	}
	for _, c := range SkipCauses {
		s.causes[c] = s.vec.WithLabelValues(c)
	}
	return s
}

// ProbeSkipped counts one probe skipped for cause (one of SkipCauses).
func (m *Metrics) ProbeSkipped(cause string) {
	if c, ok := m.skipped.causes[cause]; ok {
		c.Inc()
		return
	}
	m.skipped.vec.WithLabelValues("other").Inc()
}

// budgetCollector exports an fd budget at each scrape.
type budgetCollector struct {
	b                        *fdbudget.Budget
	limit, slots, inUse, sum *prometheus.Desc
}

// NewBudgetCollector exports how the fd budget divides the open-file
// limit and what probes hold of it: vigil_open_files_limit,
// vigil_probe_connection_slots{kind} (kept, short_lived, reserve),
// vigil_probe_connections{kind} (kept and short-lived connections held
// now) and vigil_probe_short_lived_connections_total.
func NewBudgetCollector(b *fdbudget.Budget) prometheus.Collector {
	return &budgetCollector{b: b,
		limit: prometheus.NewDesc("vigil_open_files_limit", "The open-file limit (soft RLIMIT_NOFILE) vigil divides.", nil, nil),
		slots: prometheus.NewDesc("vigil_probe_connection_slots",
			"How the open-file limit is divided: descriptors reserved for listeners, clients and files (reserve), connections kept from probe to probe (kept), short-lived probe connections open at once (short_lived).",
			[]string{"kind"}, nil),
		inUse: prometheus.NewDesc("vigil_probe_connections", "Probe connection slots held now: kept (one per instance address that keeps its connection) and short_lived.",
			[]string{"kind"}, nil),
		sum: prometheus.NewDesc("vigil_probe_short_lived_connections_total", "Short-lived probe connections opened (instance addresses beyond the kept share, and tcp probes).", nil, nil),
	}
}

func (c *budgetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.limit
	ch <- c.slots
	ch <- c.inUse
	ch <- c.sum
}

func (c *budgetCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.b.Stats()
	ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, float64(st.Limit))
	for kind, v := range map[string]int{"reserve": st.Reserve, "kept": st.Kept, "short_lived": st.ShortLived} {
		ch <- prometheus.MustNewConstMetric(c.slots, prometheus.GaugeValue, float64(v), kind)
	}
	ch <- prometheus.MustNewConstMetric(c.inUse, prometheus.GaugeValue, float64(st.KeptInUse), "kept")
	ch <- prometheus.MustNewConstMetric(c.inUse, prometheus.GaugeValue, float64(st.ShortLivedInUse), "short_lived")
	ch <- prometheus.MustNewConstMetric(c.sum, prometheus.CounterValue, float64(st.ShortLivedTotal))
}
