package e2e

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/consul/consultest"
	"github.com/vigilhq/vigil/internal/runtest"
	"github.com/vigilhq/vigil/xds/xdstest"
)

const (
	healthy   = "HEALTHY"
	unhealthy = "UNHEALTHY"
	draining  = "DRAINING"
)

// view is what one consumer sees, instance by instance: an EDS client's
// health statuses, or the Consul catalog's passing instances (HEALTHY;
// absent when not passing). It keeps its last state while its source is
// away, as Envoy keeps its last assignment. Guarded instances must stay
// show what guard asked for; every update that shows one otherwise is a
// violation.
type view struct {
	name       string
	catalog    bool // the Consul catalog: only HEALTHY (passing) or "" (not)
	mu         sync.Mutex
	cur        map[string]string
	seen       bool
	history    map[string][]change // per instance, oldest first
	guarded    map[string]string
	violations []string
}

type change struct {
	at     time.Time
	status string
}

func newView(name string) *view {
	return &view{name: name, history: map[string][]change{}, guarded: map[string]string{}}
}

func (v *view) update(next map[string]string) {
	now := time.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	for addr, want := range v.guarded {
		if next[addr] != want {
			v.violations = append(v.violations, fmt.Sprintf("%s: %s showed %s as %q at %s", v.name, addr, addr, next[addr], now.Format("15:04:05.000")))
		}
	}
	keys := map[string]bool{}
	for a := range next {
		keys[a] = true
	}
	for a := range v.cur {
		keys[a] = true
	}
	for a := range keys {
		if next[a] != v.cur[a] || !v.seen {
			v.history[a] = append(v.history[a], change{now, next[a]})
		}
	}
	v.cur, v.seen = next, true
}

// guard makes every update check the instances of want (for the catalog:
// passing, or not); nil: no check.
func (v *view) guard(want map[string]string) {
	if v.catalog {
		want = catalogWant(want)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.guarded = want
}

func (v *view) takeViolations() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := v.violations
	v.violations = nil
	return out
}

// is reports how the view differs from want (instances -> status; an
// instance absent from want must be absent or, for the catalog, not
// passing).
func (v *view) is(want map[string]string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.seen {
		return fmt.Errorf("%s: nothing received yet", v.name)
	}
	var diffs []string
	for a, st := range want {
		if v.cur[a] != st {
			diffs = append(diffs, fmt.Sprintf("%s is %q, want %q", a, v.cur[a], st))
		}
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		return fmt.Errorf("%s: %d differ: %s", v.name, len(diffs), strings.Join(diffs[:min(3, len(diffs))], "; "))
	}
	return nil
}

// reached is when addr first turned st (for the catalog: passing or not)
// at or after since; zero if not.
func (v *view) reached(addr, st string, since time.Time) time.Time {
	if v.catalog && st != healthy {
		st = ""
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, c := range v.history[addr] {
		if c.status == st && !c.at.Before(since) {
			return c.at
		}
	}
	return time.Time{}
}

// watchEDS follows the EDS of cluster web on a replica's xDS address with
// a state-of-the-world ADS stream, reconnecting whenever it breaks.
func watchEDS(t *testing.T, name, addr string) *view {
	v := newView(name)
	node := &corev3.Node{Id: "e2e-" + name, Cluster: "e2e"}
	xdstest.WatchSotW(t, xdstest.Dial(t, addr), node, []string{"web"}, func(u xdstest.Update) {
		next := map[string]string{}
		for _, a := range u.Assignments {
			maps.Copy(next, a.Health)
		}
		v.update(next)
	})
	return v
}

// watchCatalog follows GET /v1/health/service/web?passing with blocking
// queries; a passing instance shows HEALTHY.
func watchCatalog(t *testing.T, consulAddr string) *view {
	v := newView("consul")
	v.catalog = true
	cfg := consulapi.DefaultConfig()
	cfg.Address = consulAddr
	client, err := consulapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	consultest.WatchPassing(t, client, "web", func(_ time.Time, passing []string) {
		next := map[string]string{}
		for _, addr := range passing {
			next[addr] = healthy
		}
		v.update(next)
	})
	return v
}

// statuses maps every address to st, and overrides with the pairs of more
// (address, status, address, status ...).
func statuses(addrs []string, st string, more ...string) map[string]string {
	m := make(map[string]string, len(addrs))
	for _, a := range addrs {
		m[a] = st
	}
	for i := 0; i+1 < len(more); i += 2 {
		m[more[i]] = more[i+1]
	}
	return m
}

// catalogWant is the catalog's picture of want: only HEALTHY instances pass.
func catalogWant(want map[string]string) map[string]string {
	out := map[string]string{}
	for a, st := range want {
		if st == healthy {
			out[a] = healthy
		} else {
			out[a] = ""
		}
	}
	return out
}

// agree waits until every view shows want (the catalog: its healthy
// instances passing, the others not).
func agree(t *testing.T, within time.Duration, what string, want map[string]string, eds []*view, catalog *view) time.Duration {
	t.Helper()
	return runtest.Eventually(t, within, what, func() error {
		for _, v := range eds {
			if err := v.is(want); err != nil {
				return err
			}
		}
		if catalog != nil {
			return catalog.is(catalogWant(want))
		}
		return nil
	})
}

// noViolations fails the test with what the guarded views showed.
func noViolations(t *testing.T, views ...*view) {
	t.Helper()
	for _, v := range views {
		if vs := v.takeViolations(); len(vs) > 0 {
			t.Errorf("%d violations, first: %s", len(vs), strings.Join(vs[:min(5, len(vs))], "\n  "))
		}
	}
}
