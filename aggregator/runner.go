package aggregator

import "fmt"

// runner is an instance's run state: which of its probes are out, and
// which wait for them. An instance's probes never overlap (they share its
// connection), except its two probes sent together in one write. Every
// change is one of the methods below, an event; each tells the caller what
// to run, and none blocks or locks: the instance's mu guards the runner.
//
//	idle ──due──────────────────► one
//	idle ──duePair──────────────► pair
//	pair ──unpaired, or done────► one    (the other probe is still out)
//	one  ──done, nothing queued─► idle
//	one  ──done, a probe queued─► one    (the longest waiting runs)
//	one, pair ──due, duePair────► same   (the probes are queued)
//	any  ──retire───────────────► retired: nothing more runs; the
//	                                connections close once it is idle
//
// At most two probes are queued, in the order they fell due. A stopping
// aggregator drops what is queued.
type runner struct {
	out     uint8 // probes out: 0 (idle), 1, or 2 (a pair, sent in one write)
	queued  targetQueue
	retired bool
}

// due: t fell due alone. It reports whether t runs now; if not, t waits
// behind what is out (or is dropped: the instance is retired).
func (r *runner) due(t *target) (run bool) {
	switch {
	case r.retired:
		return false
	case r.out > 0:
		r.queued.push(t)
		return false
	}
	r.out = 1
	return true
}

// duePair: t fell due with sib, its instance's other probe, taken along
// to go out in the same write. It reports whether both run now; if not,
// both wait, t first.
func (r *runner) duePair(t, sib *target) (run bool) {
	switch {
	case r.retired:
		return false
	case r.out > 0:
		r.queued.push(t)
		r.queued.push(sib)
		return false
	}
	r.out = 2
	return true
}

// unpaired: a pair could not go out in one write. Its first probe runs
// alone, and sib waits behind it.
func (r *runner) unpaired(sib *target) {
	r.out = 1
	r.queued.push(sib)
}

// done: a probe that was out finished, or will not run after all. next is
// the probe to run now (the instance stays busy for it): the longest
// waiting, once nothing else is out, unless the instance is retired or
// the aggregator stopping (the queue is dropped then). closeNow: the
// instance is retired and idle, so its connections may close.
func (r *runner) done(stopping bool) (next *target, closeNow bool) {
	if r.out > 1 {
		r.out--
		return nil, false
	}
	if r.retired || stopping {
		r.queued.clear()
	}
	if next = r.queued.pop(); next != nil {
		r.out = 1
		return next, false
	}
	r.out = 0
	return nil, r.retired
}

// retire: the instance left the configuration. closeNow: nothing is out,
// so its connections may close now (else the last done says so).
func (r *runner) retire() (closeNow bool) {
	r.retired = true
	r.queued.clear()
	return r.out == 0
}

// String names the state, for tests and logs: idle, one, pair, with what
// is queued and whether the instance is retired.
func (r *runner) String() string {
	s := [...]string{"idle", "one", "pair"}[r.out]
	if r.queued.n > 0 {
		s += fmt.Sprintf(" +%d queued", r.queued.n)
	}
	if r.retired {
		s += " retired"
	}
	return s
}

// targetQueue holds the probes of an instance waiting for the one
// running. An instance has at most two probes, and a probe is queued at
// most once (it is out of the scheduler while queued), so two slots do.
// Both can be queued at once: a probe that finished late is due again at
// once and can queue behind itself while the other probe already waits.
type targetQueue struct {
	t [2]*target
	n int
}

func (q *targetQueue) push(t *target) {
	for i := range q.n {
		if q.t[i] == t {
			return
		}
	}
	if q.n < len(q.t) {
		q.t[q.n] = t
		q.n++
	}
}

// pop returns the longest waiting probe, or nil.
func (q *targetQueue) pop() *target {
	if q.n == 0 {
		return nil
	}
	t := q.t[0]
	q.t[0], q.t[1] = q.t[1], nil
	q.n--
	return t
}

func (q *targetQueue) clear() { *q = targetQueue{} }
