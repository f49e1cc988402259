package membership

import (
	"encoding/json"
	"testing"

	"github.com/vigilhq/vigil/upstreams"
)

func TestDecide(t *testing.T) {
	const (
		in = PhaseInitial
		ok = PhasePassing
		no = PhaseFailing
		dr = PhaseDraining
		ab = PhaseAbsent
	)
	cases := []struct {
		name       string
		v          Verdict
		initial    upstreams.InitialStatus
		overridden bool
		want       Status
	}{
		{"manual drain wins over everything", Verdict{Live: no, Ready: no}, "", true, StatusDraining},
		{"liveness failed wins over a drain", Verdict{Live: no, Ready: dr}, "", false, StatusUnhealthy},
		{"readiness drain", Verdict{Live: ok, Ready: dr}, "", false, StatusDraining},
		{"liveness drain", Verdict{Live: dr, Ready: ok}, "", false, StatusDraining},
		{"readiness failed", Verdict{Live: ok, Ready: no}, "", false, StatusUnhealthy},
		{"degraded", Verdict{Live: ok, Ready: ok, Degraded: true}, "", false, StatusDegraded},
		{"healthy", Verdict{Live: ok, Ready: ok}, "", false, StatusHealthy},
		{"readiness not yet: initial unhealthy", Verdict{Live: ok, Ready: in}, "", false, StatusUnhealthy},
		{"readiness not yet: initial unknown", Verdict{Live: ok, Ready: in}, upstreams.InitialUnknown, false, StatusUnknown},
		{"liveness alone decides", Verdict{Live: ok, Ready: ab}, "", false, StatusHealthy},
		{"liveness alone failing", Verdict{Live: no, Ready: ab}, "", false, StatusUnhealthy},
		{"readiness alone", Verdict{Live: ab, Ready: ok}, "", false, StatusHealthy},
		{"no probes", Verdict{Live: ab, Ready: ab}, upstreams.InitialHealthy, false, StatusHealthy},
	}
	for _, c := range cases {
		if got := Decide(c.v, c.initial, c.overridden); got != c.want {
			t.Errorf("%s: Decide(%+v) = %s, want %s", c.name, c.v, got, c.want)
		}
	}
}

func TestVerdictJSONRoundTrip(t *testing.T) {
	v := Verdict{Live: PhaseDraining, Ready: PhaseAbsent, Degraded: true}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"live":"draining","ready":"absent","degraded":true}` {
		t.Fatalf("marshal: %s", b)
	}
	var back Verdict
	if err := json.Unmarshal(b, &back); err != nil || back != v {
		t.Fatalf("unmarshal: %+v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"live":"sideways"}`), &back); err == nil {
		t.Fatal("an unknown phase name was accepted")
	}
}
