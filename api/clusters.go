package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/vigilhq/vigil/membership"
)

func (s *Server) handleSummary(w http.ResponseWriter, _ *http.Request) {
	now := s.opts.Now()
	v := summaryView{
		Version:       s.opts.Version,
		StartedAt:     s.started,
		UptimeSeconds: now.Sub(s.started).Round(time.Millisecond).Seconds(),
		StoreVersion:  s.opts.Store.Version(),
		Counts:        make(map[string]int, len(membership.Statuses)),
		Draining:      s.ready.draining.Load(),
	}
	for _, st := range membership.Statuses {
		v.Counts[st.String()] = 0
	}
	for _, c := range s.opts.Store.Clusters() {
		v.Clusters++
		v.Instances += len(c.Members)
		v.Overrides += overrideCount(c)
		for st, n := range c.Counts() {
			v.Counts[st.String()] += n
		}
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) handleClusters(w http.ResponseWriter, _ *http.Request) {
	clusters := s.opts.Store.Clusters()
	out := struct {
		Clusters []clusterView `json:"clusters"`
	}{Clusters: make([]clusterView, 0, len(clusters))}
	for _, c := range clusters {
		out.Clusters = append(out.Clusters, newClusterView(c))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleCluster(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	c, ok := s.opts.Store.Cluster(name)
	if !ok {
		writeError(w, http.StatusNotFound, "unknown cluster "+quote(name))
		return
	}
	// ?probes=false leaves out each instance's probe state: cheaper for
	// large clusters when only statuses are wanted (the dashboard's case).
	withProbes := true
	if v := r.URL.Query().Get("probes"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad probes: want true or false")
			return
		}
		withProbes = b
	}
	v := clusterDetailView{clusterView: newClusterView(c), Instances: make([]instanceView, len(c.Members))}
	for i := range c.Members {
		m := c.Members[i]
		iv := newInstanceView(m)
		if !withProbes {
			v.Instances[i] = iv
			continue
		}
		if d, ok := s.detail(c.Name, m.ID); ok {
			iv.Liveness = newProbeSummary(d.Liveness)
			iv.Readiness = newProbeSummary(d.Readiness)
		}
		v.Instances[i] = iv
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) handleInstance(w http.ResponseWriter, r *http.Request) {
	name, id := r.PathValue("name"), r.PathValue("id")
	c, ok := s.opts.Store.Cluster(name)
	if !ok {
		writeError(w, http.StatusNotFound, "unknown cluster "+quote(name))
		return
	}
	m, ok := c.Member(id)
	if !ok {
		writeError(w, http.StatusNotFound, "unknown instance "+quote(id)+" in cluster "+quote(name))
		return
	}
	v := instanceDetailView{Cluster: c.Name, instanceView: newInstanceView(m)}
	if d, ok := s.detail(c.Name, m.ID); ok {
		v.Liveness = newProbeDetail(d.Liveness)
		v.Readiness = newProbeDetail(d.Readiness)
	}
	v.Replicas = s.votes(c.Name, m.ID)
	writeJSON(w, http.StatusOK, v)
}

// detail asks the aggregator for an instance's probe state.
func (s *Server) detail(cluster, id string) (membership.InstanceDetail, bool) {
	if s.opts.Aggregator == nil {
		return membership.InstanceDetail{}, false
	}
	d, err := s.opts.Aggregator.Instance(cluster, id)
	if err != nil {
		if !errors.Is(err, membership.ErrNotFound) {
			s.log.Warn("instance details unavailable", "cluster", cluster, "instance", id, "err", err)
		}
		return membership.InstanceDetail{}, false
	}
	return d, true
}

func quote(s string) string { return strconv.Quote(s) }
