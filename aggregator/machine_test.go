package aggregator

import (
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// Outcome letters: P pass, D degraded, X drain, F fail.
func outcomes(s string) []membership.Outcome {
	var out []membership.Outcome
	for _, c := range s {
		out = append(out, map[rune]membership.Outcome{'P': membership.OutcomePass, 'D': membership.OutcomeDegraded,
			'X': membership.OutcomeDrain, 'F': membership.OutcomeFail}[c])
	}
	return out
}

// Status letters: H healthy, G degraded, R draining, U unhealthy, ? unknown.
func statusLetter(s membership.Status) string {
	return map[membership.Status]string{membership.StatusHealthy: "H", membership.StatusDegraded: "G", membership.StatusDraining: "R",
		membership.StatusUnhealthy: "U", membership.StatusUnknown: "?"}[s]
}

// TestReadinessThresholds runs readiness-only sequences with rise 2, fall 3
// and checks the published status after every verdict.
func TestReadinessThresholds(t *testing.T) {
	cases := []struct {
		name    string
		initial upstreams.InitialStatus
		seq     string
		want    string
	}{
		{"first pass leaves initial at once", upstreams.InitialUnhealthy, "PPP", "HHH"},
		{"unknown until first verdict, first fail is unhealthy", upstreams.InitialUnknown, "FP", "UU"},
		{"unknown, then pass", upstreams.InitialUnknown, "P", "H"},
		{"presumed healthy needs fall failures", upstreams.InitialHealthy, "FFF", "HHU"},
		{"presumed healthy, a flap does not drop it", upstreams.InitialHealthy, "FFPFF", "HHHHH"},
		{"fall after 3 in a row", upstreams.InitialUnhealthy, "PFFF", "HHHU"},
		{"a flap never drops a healthy instance", upstreams.InitialUnhealthy, "PFFPFFPFF", "HHHHHHHHH"},
		{"rise after 2 in a row", upstreams.InitialUnhealthy, "PFFFPP", "HHHUUH"},
		{"rise counter resets on a failure", upstreams.InitialUnhealthy, "PFFFPFPP", "HHHUUUUH"},
		{"drain is immediate", upstreams.InitialUnhealthy, "PPX", "HHR"},
		{"drain on the very first answer", upstreams.InitialUnknown, "X", "R"},
		{"drain ends only after rise passes", upstreams.InitialUnhealthy, "PXPP", "HRRH"},
		{"drain then pass-drain keeps draining", upstreams.InitialUnhealthy, "PXPXP", "HRRRR"},
		{"draining instance that then fails becomes unhealthy", upstreams.InitialUnhealthy, "PXFFF", "HRRRU"},
		{"drain overrides failing", upstreams.InitialUnhealthy, "FFFX", "UUUR"},
		{"degraded is in rotation", upstreams.InitialUnhealthy, "PDDP", "HGGH"},
		{"degraded first answer", upstreams.InitialUnhealthy, "D", "G"},
		{"degraded counts as a pass for rise", upstreams.InitialUnhealthy, "PFFFDD", "HHHUUG"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ready machine
			var got strings.Builder
			for _, o := range outcomes(c.seq) {
				ready.step(o, 2, 3, c.initial == upstreams.InitialHealthy)
				got.WriteString(statusLetter(publishedStatus(nil, &ready, c.initial, false)))
			}
			if got.String() != c.want {
				t.Errorf("%s: got %s, want %s", c.seq, got.String(), c.want)
			}
		})
	}
}

// TestLivenessAndReadinessTogether checks the precedence between the two probes.
func TestLivenessAndReadinessTogether(t *testing.T) {
	cases := []struct {
		name      string
		live      string
		ready     string
		overrided bool
		want      membership.Status
	}{
		{"both pass", "P", "P", false, membership.StatusHealthy},
		{"liveness failed beats drain", "PFFF", "X", false, membership.StatusUnhealthy},
		{"liveness failed beats ready", "PFFF", "P", false, membership.StatusUnhealthy},
		{"liveness flapping does not matter", "PFF", "P", false, membership.StatusHealthy},
		{"drain beats readiness failed", "P", "FFFX", false, membership.StatusDraining},
		{"readiness failed", "P", "PFFF", false, membership.StatusUnhealthy},
		{"degraded", "P", "D", false, membership.StatusDegraded},
		{"override beats everything", "PFFF", "P", true, membership.StatusDraining},
		{"liveness only, no readiness result yet", "P", "", false, membership.StatusUnhealthy},
		{"liveness starts presumed fine", "F", "P", false, membership.StatusHealthy},
	}
	for _, c := range cases {
		var live, ready machine
		for _, o := range outcomes(c.live) {
			live.step(o, 2, 3, true)
		}
		for _, o := range outcomes(c.ready) {
			ready.step(o, 2, 3, false)
		}
		if got := publishedStatus(&live, &ready, upstreams.InitialUnhealthy, c.overrided); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
	// A cluster with only a liveness probe leaves initial on its first pass.
	var live machine
	live.step(membership.OutcomePass, 2, 3, false)
	if got := publishedStatus(&live, nil, upstreams.InitialUnknown, false); got != membership.StatusHealthy {
		t.Errorf("liveness only: got %s", got)
	}
}

func TestIntervalFollowsThePhase(t *testing.T) {
	timing := upstreams.Timing{Interval: time.Second, UnhealthyInterval: 10 * time.Second}
	var m machine
	if got := m.interval(&timing); got != time.Second {
		t.Errorf("initial: %v", got)
	}
	m.step(membership.OutcomeFail, 2, 3, false)
	if got := m.interval(&timing); got != 10*time.Second {
		t.Errorf("failing: %v", got)
	}
	m.step(membership.OutcomeDrain, 2, 3, false)
	if got := m.interval(&timing); got != time.Second {
		t.Errorf("draining: %v", got)
	}
}

func TestStepDoesNotAllocate(t *testing.T) {
	var m machine
	seq := outcomes("PPFFFPPXPPD")
	allocs := testing.AllocsPerRun(1000, func() {
		for _, o := range seq {
			m.step(o, 2, 3, false)
		}
		_ = publishedStatus(nil, &m, upstreams.InitialUnhealthy, false)
	})
	if allocs != 0 {
		t.Errorf("step allocates %.1f times", allocs)
	}
}

func BenchmarkStateMachineStep(b *testing.B) {
	var m machine
	seq := outcomes("PPFFFPPXPPD")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.step(seq[i%len(seq)], 2, 3, false)
		_ = publishedStatus(nil, &m, upstreams.InitialUnhealthy, false)
		i++
	}
}
