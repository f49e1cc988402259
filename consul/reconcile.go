package consul

import (
	"context"
	"fmt"

	consulapi "github.com/hashicorp/consul/api"
)

// sync brings the catalog in step: a full reconcile first when asked or
// when vigil's picture of the catalog is not trusted, then writes. A CAS
// conflict or a vanished registration re-reads the catalog and writes again,
// so a concurrent writer never makes vigil lose an update.
func (p *Publisher) sync(ctx context.Context, full bool) error {
	if !p.mayWrite() {
		return errNotWriter
	}
	if full || !p.synced {
		if err := p.reconcile(ctx); err != nil {
			return err
		}
	}
	const maxPasses = 4
	for pass := 1; ; pass++ {
		res, err := p.flush(ctx)
		if err != nil {
			return err
		}
		if !res.again && !res.refresh {
			return nil
		}
		if pass == maxPasses {
			p.synced = false
			return fmt.Errorf("catalog kept changing under vigil (%d write passes); will reconcile and retry", pass)
		}
		if res.refresh {
			p.log.Info("consul catalog changed under vigil; re-reading it before writing again")
			if err := p.reconcile(ctx); err != nil {
				return err
			}
		}
	}
}

// reconcile reads what vigil owns in the catalog, replaces its picture of
// the catalog with it, marks every difference for writing, and deletes
// other nodes carrying this deployment's marker. It never reads or writes
// anything on a node vigil does not own.
func (p *Publisher) reconcile(ctx context.Context) error {
	dep := p.opts.Deployment
	var node *consulapi.CatalogNode
	err := p.call(ctx, "read node", func(c context.Context) error {
		n, _, err := p.client.Catalog().Node(p.opts.Node, (&consulapi.QueryOptions{}).WithContext(c))
		node = n
		return err
	})
	if err != nil {
		return err
	}
	if node != nil && node.Node != nil && node.Node.Meta[MetaDeployment] != dep {
		p.synced = false
		return notOwnedError{node: p.opts.Node, owner: node.Node.Meta[MetaDeployment]}
	}
	var checks consulapi.HealthChecks
	err = p.call(ctx, "read checks", func(c context.Context) error {
		cs, _, err := p.client.Health().Node(p.opts.Node, (&consulapi.QueryOptions{}).WithContext(c))
		checks = cs
		return err
	})
	if err != nil {
		return err
	}
	var owned []*consulapi.Node
	err = p.call(ctx, "list owned nodes", func(c context.Context) error {
		q := &consulapi.QueryOptions{NodeMeta: map[string]string{MetaDeployment: dep}}
		ns, _, err := p.client.Catalog().Nodes(q.WithContext(c))
		owned = ns
		return err
	})
	if err != nil {
		return err
	}

	next := make(map[string]*known)
	p.nodeOK = false
	if node != nil && node.Node != nil {
		p.nodeOK = node.Node.Address == p.opts.NodeAddress && hasAll(node.Node.Meta, p.nodeMeta())
		for id, svc := range node.Services {
			if svc.Meta[MetaDeployment] != dep {
				continue // someone else's registration on our node: not ours to manage
			}
			k := &known{svc: svc}
			if old := p.known[id]; old != nil {
				k.outputAt = old.outputAt
			}
			next[id] = k
		}
	}
	for _, c := range checks {
		if k := next[c.ServiceID]; k != nil && c.CheckID == CheckID(c.ServiceID) {
			k.checkIndex, k.status, k.output = c.ModifyIndex, c.Status, c.Output
		}
	}
	p.known = next
	clear(p.rejected)
	for id := range p.desired {
		p.dirty[id] = struct{}{}
	}
	for id := range p.known {
		p.dirty[id] = struct{}{}
	}
	p.synced = true

	var stale consulapi.TxnOps
	for _, n := range owned {
		if n.Node == p.opts.Node || n.Meta[NodeMetaExternal] != "true" {
			continue
		}
		p.log.Info("deleting a node this deployment no longer uses", "stale_node", n.Node)
		stale = append(stale, &consulapi.TxnOp{Node: &consulapi.NodeTxnOp{Verb: consulapi.NodeDelete, Node: consulapi.Node{Node: n.Node}}})
	}
	for len(stale) > 0 {
		chunk := stale[:min(len(stale), maxTxnOps)]
		stale = stale[len(chunk):]
		if _, err := p.txn(ctx, chunk); err != nil {
			return err
		}
	}
	return nil
}

// nodeMeta is the NodeMeta of vigil's node.
func (p *Publisher) nodeMeta() map[string]string {
	return map[string]string{
		NodeMetaExternal:      "true",
		NodeMetaExternalProbe: "false",
		MetaDeployment:        p.opts.Deployment,
	}
}

func (p *Publisher) nodeOp() *consulapi.TxnOp {
	return &consulapi.TxnOp{Node: &consulapi.NodeTxnOp{Verb: consulapi.NodeSet, Node: consulapi.Node{
		Node:    p.opts.Node,
		Address: p.opts.NodeAddress,
		Meta:    p.nodeMeta(),
	}}}
}

func hasAll(have, want map[string]string) bool {
	for k, v := range want {
		if w, ok := have[k]; !ok || w != v {
			return false
		}
	}
	return true
}
