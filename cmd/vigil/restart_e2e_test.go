package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/consul/consultest"
	"github.com/vigilhq/vigil/fleet"
)

// restartSetup is a fleet, optionally a Consul agent, and a config file
// for the vigil binary, which restarts on the same ports and state_dir.
type restartSetup struct {
	fleet    *fleet.Fleet
	agent    *consultest.Agent // nil: no consul block
	config   string
	stateDir string
	admin    string // host:port
	xds      string // host:port
	// healthy lists, per cluster, the addresses of its instances (every
	// one serves ready when the setup starts).
	healthy map[string][]string
	engines []fleet.Instance // cluster engines (healthz dialect: drains)
	plain   []fleet.Instance // cluster plain (status dialect)
}

// Probe timing of the restart tests: a first probe round takes about
// two seconds, so a vigil that waits for it is told apart from one that
// publishes restored verdicts at once.
const (
	restartInterval = 2 * time.Second
	restartFall     = 3
)

// newRestartSetup starts 13 engines and 13 plain instances: clusters
// engines and plain list 13 and 10 of them; with Consul, the last 3 plain
// ones are registered in Consul as plain-svc by their owner, and vigil
// discovers them as cluster discovered.
func newRestartSetup(t *testing.T, withConsul bool, extra string) *restartSetup {
	t.Helper()
	f, err := fleet.Start(context.Background(), fleet.Spec{N: 26, Formats: []fleet.Format{fleet.FormatHealthz, fleet.FormatStatus}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() }) // test cleanup
	root := t.TempDir()
	s := &restartSetup{fleet: f, config: filepath.Join(root, "vigil.yaml"), stateDir: filepath.Join(root, "state"),
		admin: freeAddr(t), xds: freeAddr(t), healthy: map[string][]string{}}
	for _, in := range f.Instances() {
		if in.Format == fleet.FormatHealthz {
			s.engines = append(s.engines, in)
		} else {
			s.plain = append(s.plain, in)
		}
	}
	var y strings.Builder
	fmt.Fprintf(&y, "admin: { listen: %s }\nxds: { listen: %s }\nstate_dir: %s\ndrain_period: 1s\n%s\n",
		s.admin, s.xds, s.stateDir, extra)
	if withConsul {
		s.agent = consultest.StartForTest(t)
		fmt.Fprintf(&y, "consul: { address: %s, batch_window: 50ms, resync_interval: 2s }\n", s.agent.HTTPAddr)
	}
	fmt.Fprintf(&y, "defaults: { interval: %s, timeout: 500ms, healthy_threshold: 2, unhealthy_threshold: %d }\n",
		restartInterval, restartFall)
	y.WriteString("clusters:\n")
	cluster := func(name, dialect, live, ready string, insts []fleet.Instance) {
		fmt.Fprintf(&y, "  - name: %s\n    dialect: %s\n    liveness: { path: %s }\n    readiness: { path: %s }\n    instances:\n",
			name, dialect, live, ready)
		for _, in := range insts {
			fmt.Fprintf(&y, "      - { id: %s, address: %s }\n", in.ID, in.Address)
			s.healthy[name] = append(s.healthy[name], in.Address)
		}
	}
	cluster("engines", "healthz", "/healthz", "/readyz", s.engines)
	cluster("plain", "status", "/healthz", "/ready", s.plain[:10])
	if withConsul {
		y.WriteString("  - name: discovered\n    dialect: status\n    readiness: { path: /ready }\n" +
			"    discovery: { consul: { service: plain-svc } }\n")
		for i, in := range s.plain[10:] {
			host, port := splitHostPort(t, in.Address)
			err := s.agent.Client().Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
				ID: fmt.Sprintf("plain-%d", i), Name: "plain-svc", Address: host, Port: port})
			if err != nil {
				t.Fatal(err)
			}
			s.healthy["discovered"] = append(s.healthy["discovered"], in.Address)
		}
	}
	if err := os.WriteFile(s.config, []byte(y.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *restartSetup) start(t *testing.T) *process {
	t.Helper()
	p := startProcess(t, "serve", "-config", s.config)
	p.waitOutput("vigil serving", 30*time.Second)
	return p
}

func (s *restartSetup) clusters() []string { return slices.Sorted(maps.Keys(s.healthy)) }

// sources are the consumers watching each cluster: both EDS clients, and
// Consul's ?passing for the clusters vigil registers there.
func (s *restartSetup) sources(cluster string) []string {
	if s.agent != nil && cluster != "discovered" {
		return []string{"sotw", "delta", "consul"}
	}
	return []string{"sotw", "delta"}
}

// watch starts every consumer.
func (s *restartSetup) watch(t *testing.T) *sightings {
	seen := &sightings{}
	watchEDS(t, s.xds, s.clusters(), seen)
	if s.agent != nil {
		watchPassing(t, s.agent.Client(), []string{"engines", "plain"}, seen)
	}
	return seen
}

// waitAllHealthy waits until every consumer's latest view shows every
// instance HEALTHY, and the SotW client (which is sent everything when it
// connects) has a view from after since.
func (s *restartSetup) waitAllHealthy(t *testing.T, seen *sightings, since time.Time) {
	t.Helper()
	waitUntil(t, 30*time.Second, "every consumer sees every instance HEALTHY", func() bool {
		for _, c := range s.clusters() {
			if _, ok := seen.first("sotw", c, since); !ok {
				return false
			}
			for _, src := range s.sources(c) {
				v, ok := seen.latest(src, c)
				if !ok || len(s.unhealthyIn(v, "")) > 0 {
					return false
				}
			}
		}
		return true
	})
}

// unhealthyIn lists the instances of v's cluster, except skip, that v does
// not show HEALTHY.
func (s *restartSetup) unhealthyIn(v sighting, skip string) []string {
	var out []string
	for _, addr := range s.healthy[v.cluster] {
		if addr != skip && v.health[addr] != "HEALTHY" {
			out = append(out, fmt.Sprintf("%s=%s", addr, orNone(v.health[addr])))
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "absent"
	}
	return s
}

func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRestartChangesNothingConsumersSee is issue 13's restart test: with a
// SotW and a delta ADS client and a Consul ?passing watcher connected, a
// vigil stopped (SIGTERM, or SIGKILL) and started again on a steady fleet
// never publishes a HEALTHY instance as anything else, through any of
// them, at any moment; a change made while it was down (an engine starting
// to drain, a plain instance failing) is published once it is back,
// within the usual detection time.
func TestRestartChangesNothingConsumersSee(t *testing.T) {
	for _, c := range []struct {
		sig     syscall.Signal
		cluster string
		flip    fleet.State
		want    string // EDS status of the flipped instance once detected
	}{
		{syscall.SIGTERM, "engines", fleet.StateDraining, "DRAINING"},
		{syscall.SIGKILL, "plain", fleet.StateNotReady, "UNHEALTHY"},
	} {
		t.Run(c.sig.String(), func(t *testing.T) {
			s := newRestartSetup(t, true, "")
			first := s.start(t)
			seen := s.watch(t)
			s.waitAllHealthy(t, seen, time.Time{})
			steady := time.Now()
			// The verdict file is written at most a second after a change:
			// the fleet has been steady that long before a crash.
			time.Sleep(1500 * time.Millisecond)

			first.signal(c.sig)
			first.wait(15 * time.Second)
			flipped := s.engines[0]
			if c.cluster == "plain" {
				flipped = s.plain[0]
			}
			if _, err := s.fleet.Set(flipped.ID, c.flip); err != nil {
				t.Fatal(err)
			}
			started := time.Now()
			s.start(t)
			serving := time.Since(started)

			// The change made while vigil was down is published by each consumer.
			detected := map[string]time.Duration{}
			waitUntil(t, 20*time.Second, fmt.Sprintf("%s %s published by every consumer", flipped.Address, c.want), func() bool {
				for _, src := range s.sources(c.cluster) {
					if _, ok := detected[src]; ok {
						continue
					}
					v, ok := seen.latest(src, c.cluster)
					if !ok || !v.at.After(started) {
						continue
					}
					if (src == "consul" && v.health[flipped.Address] == "") || v.health[flipped.Address] == c.want {
						detected[src] = v.at.Sub(started)
					}
				}
				return len(detected) == len(s.sources(c.cluster))
			})
			t.Logf("%s while down: published %v after the restart began (vigil serving after %s)", c.flip, detected,
				serving.Round(time.Millisecond))
			// A drain acts on the first answer, which comes within an
			// interval of the start. A failure needs unhealthy_threshold
			// answers in a row counted from the restored verdict (passing),
			// at least an interval apart: without the restored verdict, the
			// first failure would do.
			slack := 3 * time.Second // the process start, and a loaded machine
			lo, hi := time.Duration(0), restartInterval+slack
			if c.flip == fleet.StateNotReady {
				lo, hi = (restartFall-1)*restartInterval, restartFall*restartInterval+slack
			}
			for src, d := range detected {
				if d < lo || d > hi {
					t.Errorf("%s published the change %s after the restart began, want between %s and %s", src, d, lo, hi)
				}
			}

			// The SotW client, which is sent everything on reconnecting, was
			// answered at once with restored verdicts, without waiting for a
			// probe round. (Delta and Consul only hear of what changed.)
			for _, cl := range s.clusters() {
				v, ok := seen.first("sotw", cl, started)
				if !ok {
					t.Errorf("sotw has no view of %s from the restarted vigil", cl)
				} else if d := v.at.Sub(started); d > serving+time.Second {
					t.Errorf("sotw first answered for %s %s after the restart began (vigil serving after %s): it waited for probes",
						cl, d.Round(time.Millisecond), serving.Round(time.Millisecond))
				}
			}
			// No consumer ever saw an instance that was HEALTHY (all but the
			// flipped one) otherwise.
			var bad []string
			views := seen.since(steady)
			for _, v := range views {
				if wrong := s.unhealthyIn(v, flipped.Address); len(wrong) > 0 {
					bad = append(bad, fmt.Sprintf("%+.3fs %s %s: %s", v.at.Sub(started).Seconds(), v.source, v.cluster,
						strings.Join(wrong, " ")))
				}
			}
			if len(bad) > 0 {
				t.Errorf("%d of %d views since the fleet was steady show a HEALTHY instance otherwise (seconds from the restart):\n%s",
					len(bad), len(views), strings.Join(bad[:min(len(bad), 15)], "\n"))
			}
			t.Logf("%d views checked since the fleet was steady", len(views))
		})
	}
}

// TestUntrustedVerdictsStartFresh: verdicts older than restore_max_age,
// and a verdict file that is damaged, are not restored: vigil says so,
// starts every instance fresh (and, damaged, moves the file aside and
// keeps verdicts in a new one), and still publishes no initial status: a
// reconnecting client is answered once the first probe round is done.
func TestUntrustedVerdictsStartFresh(t *testing.T) {
	for _, c := range []struct {
		name, extra string
		spoil       func(t *testing.T, s *restartSetup)
		logged      string
	}{
		{"older than restore_max_age", "restore_max_age: 1s", func(t *testing.T, s *restartSetup) {
			time.Sleep(1500 * time.Millisecond) // the verdicts age past restore_max_age while vigil is down
		}, "older than restore_max_age"},
		{"damaged file", "", func(t *testing.T, s *restartSetup) {
			path := filepath.Join(s.stateDir, "verdicts.db")
			data := readFile(t, path)
			for i := range data {
				data[i] = byte(i*131 + 7)
			}
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "moved aside"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newRestartSetup(t, false, c.extra)
			first := s.start(t)
			seen := s.watch(t)
			s.waitAllHealthy(t, seen, time.Time{})
			first.signal(syscall.SIGTERM)
			first.wait(15 * time.Second)
			c.spoil(t, s)

			started := time.Now()
			second := s.start(t)
			second.waitOutput(c.logged, 5*time.Second)
			s.waitAllHealthy(t, seen, started)
			for _, cl := range s.clusters() {
				v, ok := seen.first("sotw", cl, started)
				if !ok {
					t.Fatalf("sotw has no view of %s from the restarted vigil", cl)
				}
				if wrong := s.unhealthyIn(v, ""); len(wrong) > 0 {
					t.Errorf("first view of %s after the restart: %s", cl, strings.Join(wrong, " "))
				}
			}
			if out := second.stderr.String(); strings.Contains(out, "started from their last published verdict") {
				t.Errorf("verdicts were restored:\n%s", out)
			}
			if c.name != "damaged file" {
				return
			}
			if aside, _ := filepath.Glob(filepath.Join(s.stateDir, "verdicts.db.damaged-*")); len(aside) != 1 {
				t.Errorf("damaged file moved aside as %v", aside)
			}
			// The new file keeps verdicts: the next restart restores them.
			time.Sleep(1500 * time.Millisecond) // written at most a second after the last change
			second.signal(syscall.SIGKILL)
			second.wait(15 * time.Second)
			third := s.start(t)
			third.waitOutput("started from their last published verdict", 5*time.Second)
			if !strings.Contains(third.stderr.String(), "restored=23 instances=23") {
				t.Errorf("the third start did not restore every instance:\n%s", third.stderr.String())
			}
		})
	}
}

// TestDiscoveredClusterSeededUntilDiscoveryAnswers: after a restart, a
// cluster discovered from Consul starts with the instances it last
// published, restored, instead of empty: discovery's first answer then
// replaces them (an instance deregistered while vigil was down leaves);
// with Consul down, the seeds are what is published meanwhile.
func TestDiscoveredClusterSeededUntilDiscoveryAnswers(t *testing.T) {
	s := newRestartSetup(t, true, "")
	first := s.start(t)
	seen := s.watch(t)
	s.waitAllHealthy(t, seen, time.Time{})
	first.signal(syscall.SIGTERM)
	first.wait(15 * time.Second)

	// Deregistered by its owner while vigil was down: discovery's answer
	// takes it out of the seeded cluster.
	if err := s.agent.Client().Agent().ServiceDeregister("plain-2"); err != nil {
		t.Fatal(err)
	}
	gone := s.healthy["discovered"][2]
	s.healthy["discovered"] = s.healthy["discovered"][:2]
	started := time.Now()
	second := s.start(t)
	waitUntil(t, 10*time.Second, "discovery's answer replaces the seeds", func() bool {
		v, ok := seen.latest("sotw", "discovered")
		_, stale := v.health[gone]
		return ok && v.at.After(started) && !stale
	})
	for _, v := range seen.since(started) {
		if v.cluster != "discovered" {
			continue
		}
		if wrong := s.unhealthyIn(v, ""); len(wrong) > 0 {
			t.Errorf("%+.3fs %s discovered: %s", v.at.Sub(started).Seconds(), v.source, strings.Join(wrong, " "))
		}
	}

	// With Consul down, discovery never answers: the seeds are published,
	// HEALTHY as they were, and stay.
	second.signal(syscall.SIGTERM)
	second.wait(15 * time.Second)
	s.agent.Stop()
	started = time.Now()
	third := s.start(t)
	third.waitOutput("seeded with its last published instances", 5*time.Second)
	waitUntil(t, 10*time.Second, "a view of discovered from the vigil started without Consul", func() bool {
		_, ok := seen.first("sotw", "discovered", started)
		return ok
	})
	time.Sleep(time.Second) // discovery keeps failing meanwhile
	for _, v := range seen.since(started) {
		if v.cluster != "discovered" {
			continue
		}
		if wrong := s.unhealthyIn(v, ""); len(wrong) > 0 || len(v.health) != 2 {
			t.Errorf("%+.3fs %s discovered without Consul: %d instances, %s", v.at.Sub(started).Seconds(), v.source,
				len(v.health), strings.Join(wrong, " "))
		}
	}
}
