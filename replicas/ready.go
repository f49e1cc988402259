package replicas

import (
	"strings"
	"sync"
	"time"
)

// readiness: after start a replica is not ready until it has merged the
// verdicts of every live peer (or ReadyWait passed); then it stays ready.
type readiness struct {
	mu     sync.Mutex
	ready  bool
	reason string
	done   chan struct{} // closed when ready latches
}

// waiting is what readiness still waits for.
type waiting struct {
	registry bool     // the registry was never read
	peers    []string // live peers without a complete snapshot yet
}

// Ready reports whether this replica publishes a view merged with every
// live peer's verdicts, and if not, why (for /readyz).
func (r *Replica) Ready() (bool, string) {
	r.ready.mu.Lock()
	defer r.ready.mu.Unlock()
	if r.ready.ready {
		return true, "ok"
	}
	if r.ready.reason == "" {
		return false, "replicas: not started"
	}
	return false, r.ready.reason
}

// ReadyC is closed once Ready turns true: hold publishing until then, so a
// restarted replica never publishes a view its peers' verdicts are
// missing from.
func (r *Replica) ReadyC() <-chan struct{} { return r.ready.done }

func (r *Replica) waitingFor() waiting {
	var w waiting
	if _, known := r.reg.snapshot(); !known {
		w.registry = true
	}
	for _, p := range r.peers.list() {
		if p.state().snapshots == 0 {
			w.peers = append(w.peers, p.id)
		}
	}
	return w
}

// check latches readiness once the first local batch is merged and w
// (taken before the merge) waits for nothing, or once ReadyWait passed. It
// returns when to check again, zero once ready.
func (rd *readiness) check(r *Replica, merged bool, w waiting, now time.Time) time.Time {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.ready {
		return time.Time{}
	}
	deadline := r.runStarted.Add(r.opts.ReadyWait)
	var why string
	switch {
	case !merged:
		why = "replicas: merging the local verdicts"
	case w.registry:
		why = "replicas: waiting for the replica registry in Consul"
	case len(w.peers) > 0:
		why = "replicas: waiting for the verdicts of " + strings.Join(w.peers, ", ")
	default:
		rd.latch()
		return time.Time{}
	}
	if !now.Before(deadline) {
		r.log.Warn("replica ready without waiting any longer", "waited", r.opts.ReadyWait, "still", why)
		rd.latch()
		return time.Time{}
	}
	rd.reason = why
	return deadline
}

func (rd *readiness) latch() {
	rd.ready, rd.reason = true, ""
	close(rd.done)
}
