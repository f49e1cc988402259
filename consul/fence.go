package consul

import (
	"errors"

	consulapi "github.com/hashicorp/consul/api"
)

// errNotWriter: this replica does not hold the catalog writer lock (or
// lost it while writing), so it writes nothing.
var errNotWriter = errors.New("this replica is not the catalog writer")

// notWriterDetail is Healthy's account while another replica writes.
const notWriterDetail = "consul: another replica writes the catalog (this one does not hold the writer lock)"

// WriterChanged tells the publisher that this replica gained (true) or
// lost (false) the catalog writer lock; only with Options.Fence. On
// gaining it the publisher reads the catalog again and writes every
// difference (the previous writer may have left anything behind); on
// losing it nothing more is sent (Fence returns nil from then on, and a
// transaction already on its way is rolled back by its fence).
func (p *Publisher) WriterChanged(writer bool) {
	if p.opts.Fence == nil {
		return
	}
	if writer {
		p.requestFull()
	}
}

// requestFull asks Run for a full reconcile (without blocking).
func (p *Publisher) requestFull() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// fenced prepends the fence to ops. It returns errNotWriter when this
// replica may not write; without Options.Fence it returns ops as they are.
func (p *Publisher) fenced(ops consulapi.TxnOps) (consulapi.TxnOps, bool, error) {
	if p.opts.Fence == nil {
		return ops, false, nil
	}
	op := p.opts.Fence()
	if op == nil {
		return nil, false, errNotWriter
	}
	return append(consulapi.TxnOps{op}, ops...), true, nil
}

// mayWrite reports whether this publisher may write now.
func (p *Publisher) mayWrite() bool { return p.opts.Fence == nil || p.opts.Fence() != nil }

// unfence takes the fence's answer out of a rolled-back transaction's
// errors: errNotWriter if the fence failed (the lock is no longer this
// replica's session's), else the errors with indexes into the caller's ops.
func unfence(errs consulapi.TxnErrors) (consulapi.TxnErrors, error) {
	out := make(consulapi.TxnErrors, 0, len(errs))
	for _, e := range errs {
		if e.OpIndex == 0 {
			return nil, errNotWriter
		}
		c := *e
		c.OpIndex--
		out = append(out, &c)
	}
	return out, nil
}
