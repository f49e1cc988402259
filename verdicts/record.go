package verdicts

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"time"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// record is one instance's last published verdict as kept in the file,
// under its cluster's bucket and its ID. It carries the instance's whole
// definition, so a discovered cluster can be seeded from it.
type record struct {
	Address   string            `json:"address"`
	ProbePort int               `json:"probe_port,omitempty"`
	Weight    uint32            `json:"weight,omitempty"`
	Region    string            `json:"region,omitempty"`
	Zone      string            `json:"zone,omitempty"`
	SubZone   string            `json:"sub_zone,omitempty"`
	Priority  uint32            `json:"priority,omitempty"`
	Meta      map[string]string `json:"meta,omitempty"`
	Source    string            `json:"source,omitempty"`

	// Shape is the cluster's probing (see Shape) when the verdict was
	// reached; a verdict is restored only into the same shape.
	Shape   string             `json:"shape"`
	Verdict membership.Verdict `json:"verdict"`
	Status  membership.Status  `json:"status"`
	Reason  string             `json:"reason"`
	Since   time.Time          `json:"since"`
	// Overridden: a manual drain held the instance, so Status is not the
	// probes'. Drains are restored from their own file.
	Overridden bool `json:"overridden,omitempty"`
}

func recordOf(m *membership.Member, shape string) record {
	return record{
		Address: m.Address, ProbePort: m.ProbePort, Weight: m.Weight, Region: m.Region, Zone: m.Zone,
		SubZone: m.SubZone, Priority: m.Priority, Meta: m.Meta, Source: m.Source,
		Shape: shape, Verdict: m.Verdict, Status: m.Status, Reason: m.Reason, Since: m.Since,
		Overridden: m.Override != nil,
	}
}

// instance is the definition the record was written with.
func (r *record) instance(id string) upstreams.Instance {
	return upstreams.Instance{ID: id, Address: r.Address, ProbePort: r.ProbePort, Weight: r.Weight,
		Region: r.Region, Zone: r.Zone, SubZone: r.SubZone, Priority: r.Priority, Meta: r.Meta, Source: r.Source}
}

// equal reports whether two records would be stored alike.
func (r *record) equal(o *record) bool {
	return r.Address == o.Address && r.ProbePort == o.ProbePort && r.Weight == o.Weight && r.Region == o.Region &&
		r.Zone == o.Zone && r.SubZone == o.SubZone && r.Priority == o.Priority && maps.Equal(r.Meta, o.Meta) &&
		r.Source == o.Source && r.Shape == o.Shape && r.Verdict == o.Verdict && r.Status == o.Status &&
		r.Reason == o.Reason && r.Since.Equal(o.Since) && r.Overridden == o.Overridden
}

// known reports whether a verdict says anything: some probe left its
// initial phase. An instance that knows nothing is not kept (it would
// restore to what a fresh start gives anyway).
func known(v membership.Verdict) bool {
	return (v.Live != membership.PhaseInitial && v.Live != membership.PhaseAbsent) ||
		(v.Ready != membership.PhaseInitial && v.Ready != membership.PhaseAbsent)
}

// Shape is a fingerprint of how a cluster probes its instances (its
// initial status and both probes, everything a reload compares to decide
// that instances start over). A verdict reached under one shape is not
// restored under another.
func Shape(spec *upstreams.Cluster) string {
	b, err := json.Marshal(struct {
		Initial             upstreams.InitialStatus
		Liveness, Readiness *upstreams.Probe
	}{spec.InitialStatus, spec.Liveness, spec.Readiness})
	if err != nil {
		return "" // matches nothing: such a cluster starts fresh
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}
