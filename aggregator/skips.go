package aggregator

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigilhq/vigil/aggregator/probe"
)

// minSkipWindow is the shortest window skips are reported over.
const minSkipWindow = time.Second

// skipLog keeps account of probes skipped for faults of vigil's own, by
// cause: it writes one log line per cause per window (the interval of the
// probe skipped last for it) rather than one per probe, and tells /readyz
// whether probes were skipped within the last window, and how many.
// Skips are rare, so a mutex will do.
type skipLog struct {
	log *slog.Logger

	mu     sync.Mutex
	causes map[probe.SkipCause]*skipCount
}

// skipCount is one cause's account.
type skipCount struct {
	window   time.Duration
	last     time.Time // the latest skip
	logged   time.Time // when the last log line was written
	sinceLog int       // skips since that line
	// Skips per window-long bucket counted from the Unix epoch: the
	// current bucket and the one before it (the last window's count is
	// estimated from both, as a sliding window).
	bucket     int64
	cur, prev  int
	lastReason string // the latest skip's error, for the log
}

func newSkipLog(log *slog.Logger) *skipLog {
	return &skipLog{log: log, causes: map[probe.SkipCause]*skipCount{}}
}

// skipped records one probe of target skipped at now for cause; interval
// is that probe's interval, reason what went wrong.
func (s *skipLog) skipped(now time.Time, cause probe.SkipCause, interval time.Duration, cluster, instance string, reason string) {
	s.mu.Lock()
	c := s.causes[cause]
	if c == nil {
		c = &skipCount{}
		s.causes[cause] = c
	}
	c.window = max(interval, minSkipWindow)
	c.roll(now)
	c.cur++
	c.sinceLog++
	c.last, c.lastReason = now, reason
	logNow := c.logged.IsZero() || now.Sub(c.logged) >= c.window
	var n int
	if logNow {
		n, c.sinceLog, c.logged = c.sinceLog, 0, now
	}
	window := c.window
	s.mu.Unlock()
	if logNow {
		s.log.Warn("probes skipped for a fault of vigil's own; the instances keep their verdicts",
			"cause", string(cause), "skipped", n, "per", window, "example_cluster", cluster, "example_instance", instance,
			"error", reason, "hint", skipHint(cause))
	}
}

// roll moves the buckets on to now's. s.mu is held.
func (c *skipCount) roll(now time.Time) {
	b := now.UnixNano() / int64(c.window)
	switch b {
	case c.bucket:
	case c.bucket + 1:
		c.prev, c.cur = c.cur, 0
	default:
		c.prev, c.cur = 0, 0
	}
	c.bucket = b
}

// inLastWindow estimates the skips of the window before now. s.mu is held.
func (c *skipCount) inLastWindow(now time.Time) int {
	c.roll(now)
	elapsed := float64(now.UnixNano()%int64(c.window)) / float64(c.window)
	return c.cur + int(float64(c.prev)*(1-elapsed)+0.5)
}

// skipHint says what an operator can do about a cause.
func skipHint(cause probe.SkipCause) string {
	switch cause {
	case probe.SkipFDBudget, probe.SkipFDLimit:
		return "raise the open-file limit (LimitNOFILE= / ulimit -n); vigil logged at start what its fleet needs"
	case probe.SkipLocalPorts:
		return "too many connections to the same addresses: widen net.ipv4.ip_local_port_range"
	case probe.SkipNoBuffers:
		return "the kernel is short of socket memory (net.ipv4.tcp_mem, net.core.*mem)"
	case probe.SkipLate:
		return "vigil cannot keep up: give it more CPU, or probe less often"
	}
	return ""
}

// ready is the /readyz check "resources": not ready while probes are
// skipped (a skip within the last window of its cause), naming each cause
// with its count over that window; ready again once they stop.
func (s *skipLog) ready(now time.Time) (ok bool, detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	for cause, c := range s.causes {
		if now.Sub(c.last) >= c.window {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: %d in the last %s (%s)", cause, max(c.inLastWindow(now), 1), c.window, c.lastReason))
	}
	if len(parts) == 0 {
		return true, "ok"
	}
	sort.Strings(parts)
	return false, "probes skipped for vigil's own faults, instances keep their verdicts: " + strings.Join(parts, "; ")
}

// Resources is the /readyz check of vigil's own resources: not ready while
// probes are skipped for faults of vigil's own (see skipLog.ready).
func (a *Aggregator) Resources() (ok bool, detail string) { return a.skips.ready(a.clock.Now()) }

// skip ends t's turn without a result: it was not run, or what it got says
// nothing about the instance, for a fault of vigil's own (cause; reason
// says what happened). Its machine is not stepped, so the instance keeps
// its verdict, and it runs again at its next due time on its own
// schedule. It returns the instance's probe to run next, as finish does.
func (a *Aggregator) skip(t *target, cause probe.SkipCause, reason string) (next *target) {
	if o, ok := a.opts.Observer.(SkipObserver); ok {
		o.ProbeSkipped(string(cause))
	}
	inst := t.inst
	now := a.clock.Now()
	inst.mu.Lock()
	id, period := inst.inst.ID, t.m.interval(&t.spec.Timing)
	if !inst.run.retired {
		a.sched.skipAhead(t, now)
	}
	next, closeNow := inst.run.done(a.stopping.Load())
	if closeNow {
		inst.closeCheckers()
	}
	inst.mu.Unlock()
	a.skips.skipped(now, cause, period, inst.cluster, id, reason)
	return next
}

// tooLate reports whether t, about to start at now, is more than its own
// period (interval, or unhealthy_interval while failing) behind its due
// time: it is skipped (probe.SkipLate) rather than run stale, and why is
// returned. The instance is busy for t.
func (a *Aggregator) tooLate(t *target, now time.Time) (reason string, late bool) {
	behind := now.Sub(t.due)
	inst := t.inst
	inst.mu.Lock()
	period := t.m.interval(&t.spec.Timing)
	inst.mu.Unlock()
	if behind <= period {
		return "", false
	}
	return fmt.Sprintf("waited %s for a worker (every one busy) or the scheduler, more than the probe's period %s",
		behind.Round(time.Millisecond), period), true
}
