package consul

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// maxTxnOps bounds the operations of one /v1/txn request.
const maxTxnOps = 64

// group is the operations for one service ID; a group never straddles
// two transactions.
type group struct {
	id    string
	ops   consulapi.TxnOps
	del   bool
	svc   *consulapi.AgentService // written service, if any
	check *consulapi.HealthCheck  // written check, if any
}

type flushResult struct {
	again   bool // some writes were rolled back and should be tried again
	refresh bool // the catalog changed under vigil: re-read it first
}

// plan turns the dirty set into write groups, and sets p.outputDue to the
// earliest output-only write it held back.
func (p *Publisher) plan(now time.Time) []group {
	p.outputDue = time.Time{}
	ids := make([]string, 0, len(p.dirty))
	for id := range p.dirty {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var groups []group
	for _, id := range ids {
		d, k := p.desired[id], p.known[id]
		if d == nil {
			if k == nil || k.svc == nil {
				delete(p.dirty, id)
				continue
			}
			op := &consulapi.TxnOp{Service: &consulapi.ServiceTxnOp{
				Verb: consulapi.ServiceDelete, Node: p.opts.Node,
				Service: consulapi.AgentService{ID: id, Service: k.svc.Service},
			}}
			groups = append(groups, group{id: id, ops: consulapi.TxnOps{op}, del: true})
			continue
		}
		if r, ok := p.rejected[id]; ok && r == d {
			delete(p.dirty, id)
			continue
		}
		var g group
		g.id = id
		want := d.service(p.opts.Deployment)
		if k == nil || k.svc == nil || !sameService(k.svc, &want) {
			g.svc = &want
			g.ops = append(g.ops, &consulapi.TxnOp{Service: &consulapi.ServiceTxnOp{
				Verb: consulapi.ServiceSet, Node: p.opts.Node, Service: want,
			}})
		}
		writeCheck := k == nil || k.checkIndex == 0 || k.status != d.status ||
			outputPrefix(k.output) != outputPrefix(d.output)
		if !writeCheck && k.output != d.output {
			due := k.outputAt.Add(p.opts.OutputUpdateInterval)
			if now.Before(due) {
				if p.outputDue.IsZero() || due.Before(p.outputDue) {
					p.outputDue = due
				}
			} else {
				writeCheck = true
			}
		}
		if writeCheck {
			var idx uint64
			if k != nil {
				idx = k.checkIndex
			}
			c := d.check(p.opts.Node, idx, p.opts.Deployment)
			g.check = &c
			g.ops = append(g.ops, &consulapi.TxnOp{Check: &consulapi.CheckTxnOp{Verb: consulapi.CheckCAS, Check: c}})
		}
		if len(g.ops) == 0 {
			if k.output == d.output {
				delete(p.dirty, id)
			}
			continue
		}
		groups = append(groups, g)
	}
	return groups
}

// flush writes what plan asks for, in transactions of at most maxTxnOps.
func (p *Publisher) flush(ctx context.Context) (flushResult, error) {
	var res flushResult
	groups := p.plan(time.Now())
	if len(groups) == 0 {
		return res, nil
	}
	withNode := !p.nodeOK
	for len(groups) > 0 {
		var ops consulapi.TxnOps
		var owners []int // group index (into batch) of each op; -1: the node op
		if withNode {
			ops = append(ops, p.nodeOp())
			owners = append(owners, -1)
		}
		n := 0
		for n < len(groups) && len(ops)+len(groups[n].ops) <= maxTxnOps {
			for range groups[n].ops {
				owners = append(owners, n)
			}
			ops = append(ops, groups[n].ops...)
			n++
		}
		batch := groups[:n]
		groups = groups[n:]
		resp, err := p.txn(ctx, ops)
		if err != nil {
			var rb rolledBack
			if !errors.As(err, &rb) {
				return res, err
			}
			res.again = true
			if p.rollback(rb, batch, owners) {
				res.refresh = true
			}
			continue
		}
		if withNode {
			p.nodeOK, withNode = true, false
		}
		p.applied(batch, resp)
	}
	return res, nil
}

// rolledBack is a transaction Consul refused as a whole.
type rolledBack struct{ errs consulapi.TxnErrors }

func (r rolledBack) Error() string {
	msgs := make([]string, 0, len(r.errs))
	for _, e := range r.errs {
		msgs = append(msgs, fmt.Sprintf("op %d: %s", e.OpIndex, e.What))
	}
	return "transaction rolled back: " + strings.Join(msgs, "; ")
}

func (r rolledBack) conflict() bool {
	for _, e := range r.errs {
		if isConflict(e.What) {
			return true
		}
	}
	return false
}

// isConflict reports whether a txn error means the catalog is not what vigil
// thought: a stale CAS index, or a node or service that vanished.
func isConflict(what string) bool {
	return strings.Contains(what, "index is stale") ||
		strings.Contains(what, "Missing node registration") ||
		strings.Contains(what, "Missing service registration")
}

// txn runs one transaction through the breaker and counts it.
func (p *Publisher) txn(ctx context.Context, ops consulapi.TxnOps) (*consulapi.TxnResponse, error) {
	ops, fenced, err := p.fenced(ops)
	if err != nil {
		return nil, err
	}
	var ok bool
	var resp *consulapi.TxnResponse
	err = p.call(ctx, "write", func(c context.Context) error {
		var err error
		ok, resp, _, err = p.client.Txn().Txn(ops, (&consulapi.QueryOptions{}).WithContext(c))
		if err != nil && strings.HasPrefix(err.Error(), "Failed request: ") {
			// Consul answered with a status the client does not type (403, 413, ...).
			return refusedError{err}
		}
		return err
	})
	switch {
	case err != nil:
		p.opts.Metrics.ConsulWrite("error")
		return nil, err
	case !ok:
		errs := resp.Errors
		if fenced {
			if errs, err = unfence(errs); err != nil {
				p.opts.Metrics.ConsulWrite("fenced")
				return nil, err
			}
		}
		rb := rolledBack{errs: errs}
		if rb.conflict() {
			p.opts.Metrics.ConsulWrite("cas_conflict")
		} else {
			p.opts.Metrics.ConsulWrite("error")
		}
		return nil, rb
	}
	p.opts.Metrics.ConsulWrite("ok")
	if fenced && len(resp.Results) > 0 {
		resp.Results = resp.Results[1:] // the fence's own result
	}
	return resp, nil
}

// refusedError is a request Consul answered with an error status.
type refusedError struct{ err error }

func (e refusedError) Error() string { return e.err.Error() }
func (e refusedError) Unwrap() error { return e.err }

// rollback sorts a rolled-back transaction's errors: conflicts ask for a
// re-read (returns true); any other error rejects that instance's desire
// until it changes or the next resync, so one bad registration cannot block
// the rest.
func (p *Publisher) rollback(rb rolledBack, batch []group, owners []int) (refresh bool) {
	for _, e := range rb.errs {
		if isConflict(e.What) {
			refresh = true
			continue
		}
		if e.OpIndex < 0 || e.OpIndex >= len(owners) {
			continue
		}
		gi := owners[e.OpIndex]
		if gi < 0 {
			p.log.Error("consul refused vigil's node registration", "error", e.What)
			continue
		}
		id := batch[gi].id
		p.log.Error("consul refused a registration; skipping it until it changes or the next resync",
			"service_id", id, "error", e.What)
		if d := p.desired[id]; d != nil {
			p.rejected[id] = d
		}
		delete(p.dirty, id)
	}
	return refresh
}

// applied records a committed transaction in vigil's picture of the catalog.
func (p *Publisher) applied(batch []group, resp *consulapi.TxnResponse) {
	indexes := make(map[string]uint64)
	for _, r := range resp.Results {
		if r != nil && r.Check != nil {
			indexes[r.Check.CheckID] = r.Check.ModifyIndex
		}
	}
	now := time.Now()
	for _, g := range batch {
		if g.del {
			delete(p.known, g.id)
			delete(p.dirty, g.id)
			continue
		}
		k := p.known[g.id]
		if k == nil {
			k = &known{}
			p.known[g.id] = k
		}
		if g.svc != nil {
			k.svc = g.svc
		}
		if g.check != nil {
			k.checkIndex = indexes[g.check.CheckID] // 0 if missing: the next write re-reads
			k.status, k.output, k.outputAt = g.check.Status, g.check.Output, now
		}
		if d := p.desired[g.id]; d != nil && k.status == d.status && k.output == d.output {
			delete(p.dirty, g.id)
		}
	}
}
