package api

import (
	"time"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/replicas"
	"github.com/vigilhq/vigil/upstreams"
)

// The JSON shapes of the API. Field names are stable; absent values are
// null rather than missing.

type summaryView struct {
	Version       string         `json:"version"`
	StartedAt     time.Time      `json:"started_at"`
	UptimeSeconds float64        `json:"uptime_seconds"`
	StoreVersion  uint64         `json:"store_version"`
	Clusters      int            `json:"clusters"`
	Instances     int            `json:"instances"`
	Overrides     int            `json:"overrides"` // instances held by a manual drain
	Counts        map[string]int `json:"counts"`    // by status name, every status present
	Draining      bool           `json:"draining"`  // vigil itself is shutting down
}

type probeSpecView struct {
	Probe              string `json:"probe"` // liveness or readiness
	Kind               string `json:"kind"`
	Scheme             string `json:"scheme"`
	Path               string `json:"path"`
	Port               int    `json:"port"`
	Dialect            string `json:"dialect"`
	Interval           string `json:"interval"`
	Timeout            string `json:"timeout"`
	HealthyThreshold   int    `json:"healthy_threshold"`
	UnhealthyThreshold int    `json:"unhealthy_threshold"`
}

type clusterView struct {
	Name      string          `json:"name"`
	EDSName   string          `json:"eds_name"`
	Version   uint64          `json:"version"`
	Total     int             `json:"total"`
	Counts    map[string]int  `json:"counts"`
	Overrides int             `json:"overrides"`
	Probes    []probeSpecView `json:"probes"`
}

type clusterDetailView struct {
	clusterView
	Instances []instanceView `json:"instances"`
}

// probeSummary is one probe of an instance with its latest result.
type probeSummary struct {
	State                string                  `json:"state"`
	ConsecutiveSuccesses int                     `json:"consecutive_successes"`
	ConsecutiveFailures  int                     `json:"consecutive_failures"`
	NextProbe            *time.Time              `json:"next_probe"`
	Last                 *membership.ProbeResult `json:"last"`
}

// probeDetail adds the recent results, newest first.
type probeDetail struct {
	probeSummary
	History []membership.ProbeResult `json:"history"`
}

type instanceView struct {
	ID        string               `json:"id"`
	Address   string               `json:"address"`
	Status    membership.Status    `json:"status"`
	Reason    string               `json:"reason"`
	Since     *time.Time           `json:"since"`
	Weight    uint32               `json:"weight"`
	Region    string               `json:"region"`
	Zone      string               `json:"zone"`
	SubZone   string               `json:"sub_zone"`
	Priority  uint32               `json:"priority"`
	Meta      map[string]string    `json:"meta"`
	Source    string               `json:"source"`
	Override  *membership.Override `json:"override"`
	Liveness  *probeSummary        `json:"liveness"`
	Readiness *probeSummary        `json:"readiness"`
}

type instanceDetailView struct {
	Cluster string `json:"cluster"`
	instanceView
	Liveness  *probeDetail `json:"liveness"`
	Readiness *probeDetail `json:"readiness"`
	// Replicas is each replica's verdict next to the merged one (the
	// instance's status above); absent when replicas are off.
	Replicas *replicas.InstanceVotes `json:"replicas,omitempty"`
}

func statusCounts(c *membership.ClusterSnapshot) map[string]int {
	out := make(map[string]int, len(membership.Statuses))
	for st, n := range c.Counts() {
		out[st.String()] = n
	}
	return out
}

func overrideCount(c *membership.ClusterSnapshot) int {
	n := 0
	for i := range c.Members {
		if c.Members[i].Override != nil {
			n++
		}
	}
	return n
}

func newClusterView(c *membership.ClusterSnapshot) clusterView {
	v := clusterView{
		Name:      c.Name,
		EDSName:   c.Name,
		Version:   c.Version,
		Total:     len(c.Members),
		Counts:    statusCounts(c),
		Overrides: overrideCount(c),
		Probes:    []probeSpecView{},
	}
	if c.Spec != nil {
		v.EDSName = c.Spec.EDSName()
		if p := c.Spec.Liveness; p != nil {
			v.Probes = append(v.Probes, newProbeSpecView(membership.Liveness, p))
		}
		if p := c.Spec.Readiness; p != nil {
			v.Probes = append(v.Probes, newProbeSpecView(membership.Readiness, p))
		}
	}
	return v
}

func newProbeSpecView(name membership.ProbeName, p *upstreams.Probe) probeSpecView {
	return probeSpecView{
		Probe:              string(name),
		Kind:               string(p.Kind),
		Scheme:             p.Scheme,
		Path:               p.Path,
		Port:               p.Port,
		Dialect:            string(p.Dialect),
		Interval:           p.Interval.String(),
		Timeout:            p.Timeout.String(),
		HealthyThreshold:   p.HealthyThreshold,
		UnhealthyThreshold: p.UnhealthyThreshold,
	}
}

func newInstanceView(m *membership.Member) instanceView {
	v := instanceView{
		ID:       m.ID,
		Address:  m.Address,
		Status:   m.Status,
		Reason:   m.Reason,
		Since:    timePtr(m.Since),
		Weight:   m.Weight,
		Region:   m.Region,
		Zone:     m.Zone,
		SubZone:  m.SubZone,
		Priority: m.Priority,
		Meta:     m.Meta,
		Source:   m.Source,
		Override: m.Override,
	}
	if v.Meta == nil {
		v.Meta = map[string]string{}
	}
	return v
}

func newProbeSummary(ps *membership.ProbeState) *probeSummary {
	if ps == nil {
		return nil
	}
	s := &probeSummary{
		State:                ps.State,
		ConsecutiveSuccesses: ps.ConsecutiveSuccesses,
		ConsecutiveFailures:  ps.ConsecutiveFailures,
		NextProbe:            timePtr(ps.NextProbe),
	}
	if len(ps.History) > 0 {
		last := ps.History[0]
		s.Last = &last
	}
	return s
}

func newProbeDetail(ps *membership.ProbeState) *probeDetail {
	if ps == nil {
		return nil
	}
	d := &probeDetail{probeSummary: *newProbeSummary(ps), History: ps.History}
	if d.History == nil {
		d.History = []membership.ProbeResult{}
	}
	return d
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
