package aggregator

import (
	"strings"
	"testing"

	"github.com/vigilhq/vigil/membership"
)

// The runner's events, one at a time: what each tells the caller to do
// and the state it leaves.
func TestRunnerEventByEvent(t *testing.T) {
	type step struct {
		event string // "due L", "pair L R", "unpaired R", "done", "done stopping", "retire"
		want  string // what it tells: "run", "wait", "next L", "none", "close", or "" (nothing)
		state string // runner.String() after it
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"a probe alone", []step{
			{"due L", "run", "one"},
			{"done", "none", "idle"}}},
		{"a pair in one write", []step{
			{"pair L R", "run", "pair"},
			{"done", "none", "one"},
			{"done", "none", "idle"}}},
		{"a pair that cannot go in one write: the second waits for the first", []step{
			{"pair L R", "run", "pair"},
			{"unpaired R", "", "one +1 queued"},
			{"done", "next R", "one"},
			{"done", "none", "idle"}}},
		{"a probe due while the other is out waits for it", []step{
			{"due L", "run", "one"},
			{"due R", "wait", "one +1 queued"},
			{"done", "next R", "one"},
			{"done", "none", "idle"}}},
		// A probe that finished late is due again at once: it can queue
		// behind the running probe while the other already waits there.
		// Neither is lost, and they run in the order they fell due.
		{"both probes wait behind a running one, in order", []step{
			{"due L", "run", "one"},
			{"due R", "wait", "one +1 queued"},
			{"due L", "wait", "one +2 queued"},
			{"due R", "wait", "one +2 queued"}, // already waiting: not twice
			{"done", "next R", "one +1 queued"},
			{"done", "next L", "one"},
			{"done", "none", "idle"}}},
		{"a pair due while a probe is out waits, first first", []step{
			{"due L", "run", "one"},
			{"pair R L", "wait", "one +2 queued"},
			{"done", "next R", "one +1 queued"},
			{"done", "next L", "one"},
			{"done", "none", "idle"}}},
		{"retired while idle: connections close now, nothing runs", []step{
			{"retire", "close", "idle retired"},
			{"due L", "wait", "idle retired"},
			{"pair L R", "wait", "idle retired"}}},
		{"retired with a pair out: connections close after the last", []step{
			{"pair L R", "run", "pair"},
			{"retire", "", "pair retired"},
			{"done", "none", "one retired"},
			{"done", "close", "idle retired"}}},
		{"retired with probes waiting: they are dropped", []step{
			{"due L", "run", "one"},
			{"due R", "wait", "one +1 queued"},
			{"retire", "", "one retired"},
			{"done", "close", "idle retired"}}},
		{"stopping: what waits is dropped", []step{
			{"due L", "run", "one"},
			{"due R", "wait", "one +1 queued"},
			{"done stopping", "none", "idle"}}},
	}
	live, ready := &target{name: membership.Liveness}, &target{name: membership.Readiness}
	probes := map[string]*target{"L": live, "R": ready}
	names := map[*target]string{live: "L", ready: "R"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r runner
			for i, s := range tc.steps {
				f := strings.Fields(s.event)
				got := ""
				switch f[0] {
				case "due":
					got = runOrWait(r.due(probes[f[1]]))
				case "pair":
					got = runOrWait(r.duePair(probes[f[1]], probes[f[2]]))
				case "unpaired":
					r.unpaired(probes[f[1]])
				case "done":
					next, closeNow := r.done(len(f) > 1)
					switch {
					case next != nil:
						got = "next " + names[next]
					case closeNow:
						got = "close"
					default:
						got = "none"
					}
				case "retire":
					if r.retire() {
						got = "close"
					}
				default:
					t.Fatalf("step %d: unknown event %q", i, s.event)
				}
				if got != s.want || r.String() != s.state {
					t.Fatalf("step %d, %s: got %q, state %q; want %q, state %q", i, s.event, got, r.String(), s.want, s.state)
				}
			}
		})
	}
}

func runOrWait(run bool) string {
	if run {
		return "run"
	}
	return "wait"
}
