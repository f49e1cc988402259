package aggregator

import (
	"fmt"
	"sync"
	"time"

	"github.com/vigilhq/vigil/upstreams"
)

// FailSafe configures the fail-safe (the config's fail_safe block).
type FailSafe struct {
	Enabled bool
	// GlobalFailurePercent is the share of all instances (and of each of
	// MinClusters clusters) that must stop answering at connection level
	// within one window for vigil to suspect itself (1..100).
	GlobalFailurePercent int
	MinClusters          int
}

// DefaultFailSafe is the config's default fail_safe block.
var DefaultFailSafe = FailSafe{Enabled: true, GlobalFailurePercent: 60, MinClusters: 2}

// guardState is where the fail-safe stands.
type guardState uint8

const (
	guardNormal  guardState = iota // every result counts
	guardHolding                   // connection-level failures of instances in rotation are not counted
)

func (s guardState) String() string {
	if s == guardHolding {
		return "holding"
	}
	return "normal"
}

// guard is the fail-safe: it watches which instances fail at connection
// level (refused, reset, timeout, no route: probe.Unreachable) and
// decides when that is so widespread that vigil's own network is the
// likelier cause.
//
// It sees each instance only when the instance's classification flips
// (report), never per probe, so a passing probe costs it nothing. It
// counts per cluster the instances failing that way now (down) and those
// among them whose failures began within the window (recent: an onset).
//
//   - normal -> holding (trip): recent reaches GlobalFailurePercent of
//     all instances, and of each of at least MinClusters clusters.
//   - holding -> normal (release): down falls below GlobalFailurePercent
//     of all instances, or fewer than MinClusters clusters are that far
//     down, or the fail-safe is disabled.
//
// While holding, the aggregator asks hold for each connection-level
// failure of an instance in rotation; the guard remembers the instance as
// held, and hands every held instance back at release to be republished.
// A trip lists the instances whose onsets tripped it: one that left
// rotation before the trip (unhealthy_threshold 1 leaves no margin) is
// put back, held (failsafe.go).
// Trips and releases are queued as guardChanges for the aggregator's hold
// loop, which publishes them (store, event, log) outside any instance lock.
//
// Lock order: an instance's mu before guard.mu. The guard never calls back
// into instances.
type guard struct {
	mu     sync.Mutex
	cfg    FailSafe
	window time.Duration // how recent an onset must be to count towards a trip

	state  guardState
	reason string // why it holds (or why it let go)
	since  time.Time

	total, down, recent int
	clusters            map[string]*guardCluster
	onsets              []onset // oldest first from head: expired lazily
	head                int
	held                map[*instance]struct{}

	changes []guardChange // not yet taken by the hold loop
	wake    chan struct{} // signalled when changes has something
}

// guardCluster counts one cluster's instances.
type guardCluster struct {
	name                string
	total, down, recent int
}

// guardMark is one instance's standing with the guard. Guarded by guard.mu.
type guardMark struct {
	inst    *instance     // whose mark it is (set once, read without guard.mu's help)
	c       *guardCluster // nil once removed
	down    bool          // its latest result failed at connection level
	recent  bool          // counted in recent: its onset is within the window
	onsetAt time.Time
	seq     uint64 // numbers its onsets, so a stale queue entry is recognised
}

// onset is one instance beginning to fail at connection level.
type onset struct {
	m   *guardMark
	seq uint64
	at  time.Time
}

// guardChange is a trip or a release for the hold loop to publish.
type guardChange struct {
	holding bool
	at      time.Time
	reason  string
	held    []*instance // on release: instances held until now, to republish
	onsets  []*instance // on a trip: the instances whose onsets tripped it, to put back if they left rotation
}

// sane returns cfg with a percent outside 1..100 and a cluster count
// under 1 replaced by the defaults (a zero FailSafe must not trip on the
// first failure).
func (cfg FailSafe) sane() FailSafe {
	if cfg.GlobalFailurePercent < 1 || cfg.GlobalFailurePercent > 100 {
		cfg.GlobalFailurePercent = DefaultFailSafe.GlobalFailurePercent
	}
	if cfg.MinClusters < 1 {
		cfg.MinClusters = 1
	}
	return cfg
}

func newGuard(cfg FailSafe, window time.Duration) *guard {
	return &guard{cfg: cfg.sane(), window: window, clusters: make(map[string]*guardCluster),
		held: make(map[*instance]struct{}), wake: make(chan struct{}, 1)}
}

// configure sets the fail-safe's settings, which may trip or release it
// at once.
func (g *guard) configure(cfg FailSafe, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cfg = cfg.sane()
	g.evaluateLocked(now)
}

// setWindow sets how recent an onset must be to count (on every Apply).
func (g *guard) setWindow(window time.Duration, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.window = window
	g.evaluateLocked(now)
}

// add registers inst, a new instance of cluster, answering until it says
// otherwise; the shares fall, which may release.
func (g *guard) add(cluster string, inst *instance, now time.Time) *guardMark {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.clusters[cluster]
	if c == nil {
		c = &guardCluster{name: cluster}
		g.clusters[cluster] = c
	}
	c.total++
	g.total++
	g.evaluateLocked(now)
	return &guardMark{inst: inst, c: c}
}

// remove forgets an instance that left (and its hold), which may release.
func (g *guard) remove(m *guardMark, inst *instance, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.c == nil {
		return
	}
	g.setDownLocked(m, false, now)
	m.c.total--
	g.total--
	if m.c.total == 0 {
		delete(g.clusters, m.c.name)
	}
	m.c = nil
	delete(g.held, inst)
	g.evaluateLocked(now)
}

// report records that an instance's latest results now fail at connection
// level (down) or no longer do. Call it only when that flips.
func (g *guard) report(m *guardMark, down bool, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.c == nil || m.down == down {
		return
	}
	g.setDownLocked(m, down, now)
	g.evaluateLocked(now)
}

// hold reports whether a connection-level failure of inst must not count
// now (the guard holds); if so, inst is held until it answers or the
// guard lets go. Deciding and remembering under one lock means a release
// can never miss an instance held just before it.
func (g *guard) hold(inst *instance) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != guardHolding {
		return false
	}
	g.held[inst] = struct{}{}
	return true
}

// unhold forgets inst's hold: it answered.
func (g *guard) unhold(inst *instance) {
	g.mu.Lock()
	delete(g.held, inst)
	g.mu.Unlock()
}

// status is the guard's state and why.
func (g *guard) status() (guardState, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state, g.reason
}

// takeChanges returns the trips and releases not yet published, oldest first.
func (g *guard) takeChanges() []guardChange {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := g.changes
	g.changes = nil
	return out
}

func (g *guard) setDownLocked(m *guardMark, down bool, now time.Time) {
	if m.down == down {
		return
	}
	m.down = down
	if down {
		m.c.down++
		g.down++
		m.seq++
		m.onsetAt = now
		m.recent = true
		m.c.recent++
		g.recent++
		g.onsets = append(g.onsets, onset{m: m, seq: m.seq, at: now})
		return
	}
	m.c.down--
	g.down--
	g.unrecentLocked(m)
}

func (g *guard) unrecentLocked(m *guardMark) {
	if m.recent {
		m.recent = false
		m.c.recent--
		g.recent--
	}
}

// expireLocked stops counting onsets older than the window.
func (g *guard) expireLocked(now time.Time) {
	cutoff := now.Add(-g.window)
	for g.head < len(g.onsets) && !g.onsets[g.head].at.After(cutoff) {
		o := g.onsets[g.head]
		g.onsets[g.head] = onset{}
		g.head++
		if o.m.c != nil && o.m.seq == o.seq {
			g.unrecentLocked(o.m)
		}
	}
	if g.head == len(g.onsets) {
		g.onsets, g.head = g.onsets[:0], 0
	} else if g.head > 64 && g.head*2 > len(g.onsets) {
		n := copy(g.onsets, g.onsets[g.head:])
		clear(g.onsets[n:])
		g.onsets, g.head = g.onsets[:n], 0
	}
}

func (g *guard) evaluateLocked(now time.Time) {
	g.expireLocked(now)
	switch g.state {
	case guardNormal:
		if clusters, ok := g.overLocked(g.recent, func(c *guardCluster) int { return c.recent }); g.cfg.Enabled && ok {
			g.state, g.since = guardHolding, now
			g.reason = fmt.Sprintf("%d of %d instances (%d%%) in %d clusters stopped answering at connection level within %s: suspecting vigil's own network",
				g.recent, g.total, g.recent*100/g.total, clusters, g.window)
			g.pushLocked(guardChange{holding: true, at: now, reason: g.reason, onsets: g.recentLocked()})
		}
	case guardHolding:
		if _, ok := g.overLocked(g.down, func(c *guardCluster) int { return c.down }); !g.cfg.Enabled || !ok {
			held := make([]*instance, 0, len(g.held))
			for inst := range g.held {
				held = append(held, inst)
			}
			clear(g.held)
			g.state, g.since = guardNormal, now
			if !g.cfg.Enabled {
				g.reason = "fail-safe disabled"
			} else {
				g.reason = fmt.Sprintf("connection-level failures are no longer global: %d of %d instances", g.down, g.total)
			}
			g.pushLocked(guardChange{holding: false, at: now, reason: g.reason, held: held})
		}
	}
}

// recentLocked lists the instances whose onsets count now.
func (g *guard) recentLocked() []*instance {
	out := make([]*instance, 0, g.recent)
	for _, o := range g.onsets[g.head:] {
		if o.m.c != nil && o.m.seq == o.seq && o.m.recent && o.m.inst != nil {
			out = append(out, o.m.inst)
		}
	}
	return out
}

// overLocked reports whether n (of all instances) reaches the threshold
// and how many clusters' own count (per) does: it must be at least
// MinClusters.
func (g *guard) overLocked(n int, per func(*guardCluster) int) (clusters int, ok bool) {
	pct := g.cfg.GlobalFailurePercent
	if g.total == 0 || n*100 < pct*g.total {
		return 0, false
	}
	for _, c := range g.clusters {
		if c.total > 0 && per(c)*100 >= pct*c.total {
			clusters++
		}
	}
	return clusters, clusters >= g.cfg.MinClusters
}

func (g *guard) pushLocked(ch guardChange) {
	g.changes = append(g.changes, ch)
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// failSafeWindow is how recent an onset must be to count towards a trip:
// the longest a probe of clusters can take to run again and fail, its
// interval lengthened by its full jitter plus its timeout. When vigil's
// network goes, every instance in rotation fails within that time.
func failSafeWindow(clusters []upstreams.Cluster) time.Duration {
	var w time.Duration
	for i := range clusters {
		for _, p := range []*upstreams.Probe{clusters[i].Liveness, clusters[i].Readiness} {
			if p == nil {
				continue
			}
			if d := p.Interval + p.Interval*time.Duration(p.JitterPercent)/100 + p.Timeout; d > w {
				w = d
			}
		}
	}
	return w
}
