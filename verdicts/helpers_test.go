package verdicts_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/runtest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
	"github.com/vigilhq/vigil/verdicts"
)

// waitTimeout bounds every wait: generous, the machine is shared.
const waitTimeout = 20 * time.Second

var (
	passing = membership.Verdict{Live: membership.PhasePassing, Ready: membership.PhasePassing}
	failing = membership.Verdict{Live: membership.PhasePassing, Ready: membership.PhaseFailing}
	initial = membership.Verdict{Live: membership.PhaseInitial, Ready: membership.PhaseInitial}
)

// spec is a cluster probing /ready and /live on the instances' port.
func spec(name string) *upstreams.Cluster {
	probe := func(path string) *upstreams.Probe {
		return &upstreams.Probe{Kind: upstreams.KindHTTP, Scheme: "http", Path: path, Dialect: upstreams.DialectAuto,
			Timing: upstreams.Timing{Interval: time.Second, Timeout: time.Second, HealthyThreshold: 2, UnhealthyThreshold: 3}}
	}
	return &upstreams.Cluster{Name: name, InitialStatus: upstreams.InitialUnhealthy,
		Liveness: probe("/live"), Readiness: probe("/ready")}
}

func member(id string, v membership.Verdict) membership.Member {
	st := membership.Decide(v, upstreams.InitialUnhealthy, false)
	return membership.Member{
		Instance: upstreams.Instance{ID: id, Address: "10.0.0." + id + ":80", Weight: 2, Zone: "z1", Source: "config",
			Meta: map[string]string{"rack": "r" + id}},
		Status: st, Reason: "readiness: " + st.String(), Since: time.Unix(1700000000, 0), Verdict: v,
	}
}

// setVerdict republishes one member with verdict v, as the aggregator does.
func setVerdict(t *testing.T, s *membership.Store, cluster, id string, v membership.Verdict, reason string) {
	t.Helper()
	ok := s.UpdateMember(cluster, id, func(m *membership.Member) (*membership.Event, bool) {
		m.Verdict, m.Status, m.Reason = v, membership.Decide(v, upstreams.InitialUnhealthy, false), reason
		m.Since = time.Now()
		return nil, true
	})
	if !ok {
		t.Fatalf("store did not change %s/%s", cluster, id)
	}
}

// running is a Writer running on a File until stop.
type running struct {
	f    *verdicts.File
	w    *verdicts.Writer
	stop func()
}

// startWriter opens dir's file and runs a Writer on store. stop ends the
// Writer (flushing) and closes the file.
func startWriter(t *testing.T, dir string, store *membership.Store, opts verdicts.Options, wo verdicts.WriterOptions) *running {
	t.Helper()
	return runWriter(t, verdicts.Open(dir, opts), store, wo)
}

// runWriter runs a Writer on f.
func runWriter(t *testing.T, f *verdicts.File, store *membership.Store, wo verdicts.WriterOptions) *running {
	t.Helper()
	w := verdicts.NewWriter(store, f, wo)
	stop := runtest.Start(t, w.Run, func() {
		if err := f.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &running{f: f, w: w, stop: stop}
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// restored opens dir's file with opts and returns what it restores, closing it.
func restored(t *testing.T, dir string, opts verdicts.Options) *verdicts.Restored {
	t.Helper()
	f := verdicts.Open(dir, opts)
	defer f.Close() //nolint:errcheck // test cleanup
	return f.Restored()
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(i + 1)
	}
	return out
}
