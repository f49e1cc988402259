package api

import (
	"errors"
	"net/http"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/overrides"
	"github.com/vigilhq/vigil/replicas"
)

// OverrideStore keeps manual drains across restarts: the bbolt
// overrides.Store of a single vigil, or replicas.Drains (Consul KV, with
// the bbolt store as its cache) shared by every replica.
type OverrideStore interface {
	Put(cluster, instance string, o membership.Override) error
	PutMany(cluster string, instances []string, o membership.Override) error
	Delete(cluster, instance string) error
	DeleteCluster(cluster string) error
	List() ([]overrides.Entry, error)
}

// Replicas is what the API shows of a replicated vigil (replicas.Replica).
type Replicas interface {
	Replicas() []replicas.ReplicaInfo
	Votes(cluster, instance string) (replicas.InstanceVotes, error)
	Disagreements() int
	// Handler serves this replica's verdict stream to its peers.
	Handler() http.Handler
}

type replicasView struct {
	Self          string                 `json:"self"`
	Writer        string                 `json:"writer"` // the replica writing the Consul catalog; "" when none is known
	Disagreements int                    `json:"disagreements"`
	Replicas      []replicas.ReplicaInfo `json:"replicas"`
}

// handleReplicas answers GET /api/v1/replicas: every replica this one
// knows, live or not, which writes Consul, and when each was last heard.
func (s *Server) handleReplicas(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Replicas == nil {
		writeError(w, http.StatusNotFound, "replicas are off (no replicas block with enabled: true)")
		return
	}
	list := s.opts.Replicas.Replicas()
	v := replicasView{Disagreements: s.opts.Replicas.Disagreements(), Replicas: list}
	for _, r := range list {
		if r.Self {
			v.Self = r.ID
		}
		if r.Writer {
			v.Writer = r.ID
		}
	}
	writeJSON(w, http.StatusOK, v)
}

// votes is each replica's verdict on an instance next to the merged one;
// nil when replicas are off.
func (s *Server) votes(cluster, id string) *replicas.InstanceVotes {
	if s.opts.Replicas == nil {
		return nil
	}
	v, err := s.opts.Replicas.Votes(cluster, id)
	if err != nil {
		if !errors.Is(err, membership.ErrNotFound) {
			s.log.Warn("replica votes unavailable", "cluster", cluster, "instance", id, "err", err)
		}
		return nil
	}
	return &v
}
