package aggregator

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/upstreams"
)

// guardRig drives a guard with instances named "<cluster><n>" (a1, b3),
// each a real *instance so held sets can be checked.
type guardRig struct {
	t     *testing.T
	g     *guard
	marks map[string]*guardMark
	insts map[string]*instance
	now   time.Time
}

func newGuardRig(t *testing.T, cfg FailSafe, window time.Duration, clusters map[string]int) *guardRig {
	r := &guardRig{t: t, g: newGuard(cfg, window), marks: map[string]*guardMark{}, insts: map[string]*instance{},
		now: time.Unix(1000, 0)}
	for c, n := range clusters {
		for i := 1; i <= n; i++ {
			r.add(fmt.Sprintf("%s%d", c, i))
		}
	}
	return r
}

func (r *guardRig) add(name string) {
	r.insts[name] = &instance{cluster: name[:1]}
	r.marks[name] = r.g.add(name[:1], r.insts[name], r.now)
}

// do applies one event: "+2s" (time passes), "down a1 a2", "up a1",
// "hold a1" (a failure of a1 while it is in rotation; its result is
// checked against the want's held), "answer a1" (it answered: unhold),
// "remove a1", "add c1", "disable", "enable".
func (r *guardRig) do(ev string) (held bool) {
	f := strings.Fields(ev)
	switch {
	case strings.HasPrefix(ev, "+"):
		d, err := time.ParseDuration(ev[1:])
		if err != nil {
			r.t.Fatal(err)
		}
		r.now = r.now.Add(d)
	case f[0] == "down" || f[0] == "up":
		for _, n := range f[1:] {
			r.g.report(r.marks[n], f[0] == "down", r.now)
		}
	case f[0] == "hold":
		held = r.g.hold(r.insts[f[1]])
	case f[0] == "answer":
		r.g.unhold(r.insts[f[1]])
	case f[0] == "remove":
		r.g.remove(r.marks[f[1]], r.insts[f[1]], r.now)
	case f[0] == "add":
		r.add(f[1])
	case f[0] == "disable" || f[0] == "enable":
		cfg := r.g.cfg
		cfg.Enabled = f[0] == "enable"
		r.g.configure(cfg, r.now)
	default:
		r.t.Fatalf("unknown event %q", ev)
	}
	return held
}

// names of the instances in a release's held list, sorted by name.
func (r *guardRig) names(insts []*instance) string {
	var out []string
	for name, inst := range r.insts {
		for _, h := range insts {
			if h == inst {
				out = append(out, name)
			}
		}
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

type guardStep struct {
	ev           string
	state        guardState
	down, recent int
	held         bool   // for "hold": whether the failure is held
	change       string // "" none, "trip", or "release:<held names>"
}

func runGuardSteps(t *testing.T, r *guardRig, steps []guardStep) {
	t.Helper()
	for i, s := range steps {
		held := r.do(s.ev)
		state, reason := r.g.status()
		r.g.mu.Lock()
		down, recent := r.g.down, r.g.recent
		r.g.mu.Unlock()
		if state != s.state || down != s.down || recent != s.recent {
			t.Fatalf("step %d %q: state %s down %d recent %d, want %s %d %d (%s)", i, s.ev, state, down, recent,
				s.state, s.down, s.recent, reason)
		}
		if strings.HasPrefix(s.ev, "hold") && held != s.held {
			t.Fatalf("step %d %q: held %v, want %v", i, s.ev, held, s.held)
		}
		var got []string
		for _, ch := range r.g.takeChanges() {
			if ch.holding {
				got = append(got, "trip")
			} else {
				got = append(got, "release:"+r.names(ch.held))
			}
		}
		if strings.Join(got, ",") != s.change {
			t.Fatalf("step %d %q: changes %q, want %q", i, s.ev, got, s.change)
		}
	}
}

var testFailSafe = FailSafe{Enabled: true, GlobalFailurePercent: 60, MinClusters: 2}

func TestGuardTripsAndReleases(t *testing.T) {
	// 10 instances: a1-a4, b1-b4, c1-c2. 60% is 6 instances; a cluster
	// counts from 60% of its own (3 of 4, 2 of 2).
	r := newGuardRig(t, testFailSafe, 2*time.Second, map[string]int{"a": 4, "b": 4, "c": 2})
	runGuardSteps(t, r, []guardStep{
		{ev: "hold a1", state: guardNormal, held: false},
		{ev: "down a1 a2 a3 a4", state: guardNormal, down: 4, recent: 4},
		{ev: "+500ms", state: guardNormal, down: 4, recent: 4},
		{ev: "down b1", state: guardNormal, down: 5, recent: 5},
		// 6 of 10 but b (2 of 4) is under its 60%: one cluster only.
		{ev: "down b2", state: guardNormal, down: 6, recent: 6},
		{ev: "down b3", state: guardHolding, down: 7, recent: 7, change: "trip"},
		{ev: "hold a1", state: guardHolding, down: 7, recent: 7, held: true},
		{ev: "hold b1", state: guardHolding, down: 7, recent: 7, held: true},
		{ev: "hold a2", state: guardHolding, down: 7, recent: 7, held: true},
		{ev: "answer a2", state: guardHolding, down: 7, recent: 7},
		{ev: "up a2", state: guardHolding, down: 6, recent: 6},
		// Onsets age out of the window; holding goes on while they still fail.
		{ev: "+3s", state: guardHolding, down: 6, recent: 6},
		{ev: "down c1", state: guardHolding, down: 7, recent: 1},
		// 5 of 10 fail: under 60%, released; a1 and b1 are handed back.
		{ev: "up a3 b3", state: guardNormal, down: 5, recent: 1, change: "release:a1 b1"},
		{ev: "hold a4", state: guardNormal, down: 5, recent: 1, held: false},
		// Failing long since, not within one window: no trip.
		{ev: "down a2 b3", state: guardNormal, down: 7, recent: 3},
	})
}

func TestGuardNeedsMinClusters(t *testing.T) {
	r := newGuardRig(t, testFailSafe, 2*time.Second, map[string]int{"a": 8, "b": 2})
	runGuardSteps(t, r, []guardStep{
		// 80% of everything, all of a: one cluster is not enough.
		{ev: "down a1 a2 a3 a4 a5 a6 a7 a8", state: guardNormal, down: 8, recent: 8},
		{ev: "down b1", state: guardNormal, down: 9, recent: 9}, // b: 1 of 2 is under its own 60%
		{ev: "down b2", state: guardHolding, down: 10, recent: 10, change: "trip"},
		// b back under its own 60%: one cluster left, release.
		{ev: "hold a1", state: guardHolding, down: 10, recent: 10, held: true},
		{ev: "up b1", state: guardNormal, down: 9, recent: 9, change: "release:a1"},
	})
}

func TestGuardGradualFailuresDoNotTrip(t *testing.T) {
	r := newGuardRig(t, testFailSafe, time.Second, map[string]int{"a": 3, "b": 2})
	runGuardSteps(t, r, []guardStep{
		{ev: "down a1 b1", state: guardNormal, down: 2, recent: 2},
		{ev: "+1s", state: guardNormal, down: 2, recent: 2},
		{ev: "down a2", state: guardNormal, down: 3, recent: 1}, // a1 and b1 aged out (at exactly the window)
		{ev: "+600ms", state: guardNormal, down: 3, recent: 1},
		{ev: "down b2 a3", state: guardNormal, down: 5, recent: 3}, // 3 of 5 = 60%, but b has 1 of 2 recent
		{ev: "up a2", state: guardNormal, down: 4, recent: 2},
		{ev: "down a2", state: guardNormal, down: 5, recent: 3},
	})
}

func TestGuardRemovalAndConfig(t *testing.T) {
	r := newGuardRig(t, testFailSafe, 2*time.Second, map[string]int{"a": 2, "b": 2})
	runGuardSteps(t, r, []guardStep{
		{ev: "disable", state: guardNormal},
		{ev: "down a1 a2 b1 b2", state: guardNormal, down: 4, recent: 4},
		{ev: "enable", state: guardHolding, down: 4, recent: 4, change: "trip"},
		{ev: "hold b2", state: guardHolding, down: 4, recent: 4, held: true},
		{ev: "hold a1", state: guardHolding, down: 4, recent: 4, held: true},
		// A held instance that leaves is not handed back.
		{ev: "remove a1", state: guardHolding, down: 3, recent: 3},
		{ev: "add c1", state: guardHolding, down: 3, recent: 3},
		{ev: "add c2", state: guardHolding, down: 3, recent: 3},
		{ev: "add c3", state: guardNormal, down: 3, recent: 3, change: "release:b2"}, // 3 of 6 = 50%
		// 3 of 5 recent onsets again: a removal can trip too.
		{ev: "remove c3", state: guardHolding, down: 3, recent: 3, change: "trip"},
		{ev: "add c3", state: guardNormal, down: 3, recent: 3, change: "release:"},
		{ev: "+3s", state: guardNormal, down: 3, recent: 3},
		{ev: "remove c3", state: guardNormal, down: 3, recent: 0}, // 60% fail, but not within the window
		{ev: "up a2 b1 b2", state: guardNormal, down: 0, recent: 0},
		{ev: "down a2 b1 b2", state: guardHolding, down: 3, recent: 3, change: "trip"},
		{ev: "disable", state: guardNormal, down: 3, recent: 3, change: "release:"},
	})
}

func TestGuardOnsetQueueStaysBounded(t *testing.T) {
	r := newGuardRig(t, testFailSafe, time.Second, map[string]int{"a": 1, "b": 9})
	for range 1000 {
		r.do("down a1")
		r.do("up a1")
		r.do("+2s")
	}
	r.g.mu.Lock()
	defer r.g.mu.Unlock()
	if live := len(r.g.onsets) - r.g.head; live > 1 || cap(r.g.onsets) > 128 {
		t.Fatalf("onset queue: %d live of %d (cap %d)", live, len(r.g.onsets), cap(r.g.onsets))
	}
}

func TestFailSafeWindow(t *testing.T) {
	probe := func(interval, timeout time.Duration, jitter int) *upstreams.Probe {
		return &upstreams.Probe{Timing: upstreams.Timing{Interval: interval, Timeout: timeout, JitterPercent: jitter}}
	}
	clusters := []upstreams.Cluster{
		{Readiness: probe(time.Second, 500*time.Millisecond, 10)},
		{Liveness: probe(2*time.Second, 100*time.Millisecond, 50), Readiness: probe(time.Second, time.Second, 0)},
	}
	if w := failSafeWindow(clusters); w != 3100*time.Millisecond {
		t.Fatalf("window = %s, want 3.1s (2s + 50%% + 100ms)", w)
	}
}

// A FailSafe with no percent (a config built in Go, unfinished) holds at
// the default 60%, not at the first failure.
func TestGuardZeroSettingsAreTheDefaults(t *testing.T) {
	r := newGuardRig(t, FailSafe{Enabled: true}, time.Second, map[string]int{"a": 2, "b": 2})
	runGuardSteps(t, r, []guardStep{
		{ev: "down a1", state: guardNormal, down: 1, recent: 1},
		{ev: "down b1", state: guardNormal, down: 2, recent: 2},
		{ev: "down a2", state: guardHolding, down: 3, recent: 3, change: "trip"},
	})
}
