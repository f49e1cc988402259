package aggregator

import (
	"fmt"
	"sync"
)

// ejector caps how many of one cluster's instances may be out of rotation
// for failed probes at once (max_ejection_percent, Envoy's name): an
// instance whose probes say it should leave rotation while the cap is
// reached stays as published and waits, held; when an instance that is out
// comes back (or leaves), the one that has waited longest is re-decided.
//
// Out means published UNHEALTHY because its probes fail. Drains and manual
// drains are not out and never wait. An instance already out of rotation
// (initial status, draining) that turns UNHEALTHY is counted without
// waiting: holding it would keep nothing in rotation.
//
// Lock order: an instance's mu before ejector.mu. The ejector never calls
// back into instances; it hands the waiting ones to re-decide to its
// caller.
type ejector struct {
	mu      sync.Mutex
	percent int // 1..100
	total   int // instances of the cluster
	out     int
	waiting []*ejectMark // oldest first; entries no longer waiting are skipped
}

// ejectMark is one instance's standing with its cluster's ejector.
// Guarded by ejector.mu.
type ejectMark struct {
	inst    *instance
	out     bool
	waiting bool
	removed bool
}

func newEjector(percent int) *ejector { return &ejector{percent: capPercent(percent)} }

// capPercent is max_ejection_percent as the ejector uses it: outside
// 1..100 (0: not set), no cap.
func capPercent(p int) int {
	if p < 1 || p > 100 {
		return 100
	}
	return p
}

// limit is how many instances may be out: max_ejection_percent of the
// cluster, rounded down.
func (e *ejector) limitLocked() int { return e.total * e.percent / 100 }

// configure sets the cap (on every Apply) and returns the waiting
// instances that now fit, to re-decide.
func (e *ejector) configure(percent int) []*instance {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.percent = capPercent(percent)
	return e.fitLocked()
}

// add registers a new instance of the cluster.
func (e *ejector) add(inst *instance) *ejectMark {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.total++
	return &ejectMark{inst: inst}
}

// remove forgets an instance that left; the waiting instances that now
// fit are returned to re-decide.
func (e *ejector) remove(m *ejectMark) []*instance {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m.removed {
		return nil
	}
	e.backLocked(m)
	m.removed = true
	e.total--
	return e.fitLocked()
}

// admit is asked when m's probes say it should be published UNHEALTHY.
// inRotation: it is published in rotation now. ok: it may go (it is
// counted out); else it waits, held, and reason says why.
func (e *ejector) admit(m *ejectMark, inRotation bool) (ok bool, reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m.out || m.removed {
		return true, ""
	}
	if !inRotation || e.out < e.limitLocked() {
		m.out, m.waiting = true, false
		e.out++
		return true, ""
	}
	if !m.waiting {
		m.waiting = true
		e.waiting = append(e.waiting, m)
	}
	return false, fmt.Sprintf("max_ejection_percent %d: %d of %d out", e.percent, e.out, e.total)
}

// back is told that m no longer should be out (it recovered, drains or is
// drained): it stops counting or waiting. It returns the instance that has
// waited longest when there is a place for it, to re-decide, or nil. (That
// one may have recovered meanwhile; re-deciding it calls back in turn.)
func (e *ejector) back(m *ejectMark) *instance {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.backLocked(m)
	if fit := e.fitLocked(); len(fit) > 0 {
		return fit[0]
	}
	return nil
}

func (e *ejector) backLocked(m *ejectMark) {
	m.waiting = false
	if m.out {
		m.out = false
		e.out--
	}
}

// fitLocked returns as many waiting instances, longest waiting first, as
// there are places out; they stay queued until admitted.
func (e *ejector) fitLocked() []*instance {
	free := e.limitLocked() - e.out
	var out []*instance
	kept := e.waiting[:0]
	for _, m := range e.waiting {
		if !m.waiting || m.removed {
			continue
		}
		kept = append(kept, m)
		if len(out) < free {
			out = append(out, m.inst)
		}
	}
	clear(e.waiting[len(kept):])
	e.waiting = kept
	return out
}

// counts returns how many instances are out and how many wait.
func (e *ejector) counts() (out, waiting int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range e.waiting {
		if m.waiting && !m.removed {
			waiting++
		}
	}
	return e.out, waiting
}
