package verdicts

import (
	"sort"
	"sync"
	"time"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// Restored is what a start may restore: the records of a file confirmed
// no longer than MaxAge ago. A nil *Restored restores nothing. It is safe
// for concurrent use.
type Restored struct {
	records   map[string]map[string]record // read only
	confirmed time.Time

	mu     sync.Mutex
	shapes map[*upstreams.Cluster]string // Shape of the specs asked about
}

// Restored returns what the file allows to restore, and logs why when
// that is nothing.
func (f *File) Restored() *Restored {
	n := 0
	for _, recs := range f.held {
		n += len(recs)
	}
	if n == 0 {
		return nil
	}
	age := f.now().Sub(f.confirmed)
	switch {
	case f.maxAge <= 0:
		f.log.Info("verdicts: restore_max_age is 0: nothing is restored", "kept", n)
		return nil
	case f.confirmed.IsZero() || age > f.maxAge:
		f.log.Warn("verdicts: the kept verdicts are older than restore_max_age: every instance starts fresh",
			"kept", n, "confirmed_at", f.confirmed, "age", age.Round(time.Second).String(),
			"restore_max_age", f.maxAge.String())
		return nil
	}
	f.log.Info("verdicts: restoring the kept verdicts", "kept", n, "confirmed_at", f.confirmed,
		"age", age.Round(time.Millisecond).String())
	return &Restored{records: f.held, confirmed: f.confirmed, shapes: map[*upstreams.Cluster]string{}}
}

// ConfirmedAt is when the verdicts were last known to hold.
func (r *Restored) ConfirmedAt() time.Time {
	if r == nil {
		return time.Time{}
	}
	return r.confirmed
}

// Lookup returns the member to start in as, restored: the instance's
// verdict, status, reason and since as last published, when the record
// matches its cluster, ID, address and probe port, and the cluster probes
// the same way (Shape) as when it was written. in is the instance's
// current definition, which the member carries.
func (r *Restored) Lookup(spec *upstreams.Cluster, in upstreams.Instance) (membership.Member, bool) {
	if r == nil {
		return membership.Member{}, false
	}
	rec, ok := r.records[spec.Name][in.ID]
	if !ok || rec.Address != in.Address || rec.ProbePort != in.ProbePort || !r.fits(spec, &rec) {
		return membership.Member{}, false
	}
	m := membership.Member{Instance: in, Status: rec.Status, Reason: rec.Reason, Since: rec.Since, Verdict: rec.Verdict}
	if rec.Overridden {
		// A manual drain decided the status, and drains come back from
		// their own file: start from what the probes said.
		m.Status = membership.Decide(rec.Verdict, spec.InitialStatus, false)
		m.Reason = "restored verdict (its status was a manual drain's)"
	}
	return m, true
}

// Instances lists the instances of spec's cluster that Lookup would
// restore, as they were defined when written, sorted by ID: the seed of a
// cluster discovered from Consul until discovery answers.
func (r *Restored) Instances(spec *upstreams.Cluster) []upstreams.Instance {
	if r == nil {
		return nil
	}
	var out []upstreams.Instance
	for id, rec := range r.records[spec.Name] {
		if r.fits(spec, &rec) {
			out = append(out, rec.instance(id))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// fits reports whether rec's verdict can be restored into spec: written
// under the same probing, for the probes spec has, and saying something.
func (r *Restored) fits(spec *upstreams.Cluster, rec *record) bool {
	v := rec.Verdict
	return rec.Shape != "" && rec.Shape == r.shape(spec) && known(v) &&
		phaseFits(v.Live, spec.Liveness != nil) && phaseFits(v.Ready, spec.Readiness != nil)
}

func phaseFits(p membership.Phase, present bool) bool {
	if !present {
		return p == membership.PhaseAbsent
	}
	return p <= membership.PhaseDraining
}

func (r *Restored) shape(spec *upstreams.Cluster) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.shapes[spec]
	if !ok {
		s = Shape(spec)
		r.shapes[spec] = s
	}
	return s
}
