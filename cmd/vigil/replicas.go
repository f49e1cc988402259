package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/overrides"
	"github.com/vigilhq/vigil/replicas"
)

// heartbeat is the verdict streams' heartbeat: the package default, or a
// third of a shorter session_ttl, so that a silent peer's stream is
// dropped (after three heartbeats) no later than its session lapses.
func heartbeat(r *config.Replicas) time.Duration {
	return min(replicas.DefaultHeartbeat, r.SessionTTL/3)
}

// newReplica builds this process's replica from the replicas block: the
// aggregator writes local, the replica merges its own and its peers'
// verdicts into published (what every publisher reads), and onWriter
// hears of the Consul catalog writer lock.
func (a *app) newReplica(cfg *config.Config, local, published *membership.Store, onWriter func(bool)) (*replicas.Replica, error) {
	if a.consulClient == nil {
		return nil, errors.New("replicas: need the consul block")
	}
	r := cfg.Replicas
	rep, err := replicas.New(replicas.Options{ID: r.ID, Advertise: r.Advertise, Deployment: cfg.Consul.Deployment,
		SessionTTL: r.SessionTTL, Quorum: replicas.Quorum(r.Quorum), Heartbeat: heartbeat(r),
		Consul: a.consulClient, Local: local, Merged: published, OnWriterChange: onWriter, Logger: a.log})
	if err != nil {
		return nil, fmt.Errorf("replicas: %w", err)
	}
	return rep, nil
}

// newSharedDrains keeps manual drains in Consul KV, shared by every
// replica, with the state file's drains as the local cache.
func (a *app) newSharedDrains(cfg *config.Config, cache *overrides.Store) (*replicas.Drains, error) {
	d, err := replicas.NewDrains(replicas.DrainsOptions{Consul: a.consulClient, Deployment: cfg.Consul.Deployment,
		Cache: cache, Logger: a.log})
	if err != nil {
		return nil, fmt.Errorf("replicas drains: %w", err)
	}
	return d, nil
}

// watchDrains applies the shared drains to the aggregator whenever
// another replica (or this one) changes them, until ctx ends.
func (a *app) watchDrains(ctx context.Context) error {
	return a.shared.Watch(ctx, a.applyDrains)
}

// applyDrains makes the aggregator's manual drains equal to set: drains
// not held yet are set, changed ones replaced, and those gone cleared.
func (a *app) applyDrains(set []overrides.Entry) {
	type key struct{ cluster, instance string }
	want := make(map[key]membership.Override, len(set))
	for _, e := range set {
		want[key{e.Cluster, e.Instance}] = e.Override
	}
	for _, c := range a.local.Clusters() {
		for i := range c.Members {
			m := c.Members[i]
			w, drained := want[key{c.Name, m.ID}]
			var err error
			switch {
			case drained && (m.Override == nil || !m.Override.Equal(w)):
				a.log.Info("shared drain applied", "cluster", c.Name, "instance", m.ID, "by", w.By, "reason", w.Reason)
				err = a.agg.SetOverride(c.Name, m.ID, &w)
			case !drained && m.Override != nil:
				a.log.Info("shared drain lifted", "cluster", c.Name, "instance", m.ID)
				err = a.agg.SetOverride(c.Name, m.ID, nil)
			}
			if err != nil && !errors.Is(err, membership.ErrNotFound) {
				a.log.Error("applying a shared drain", "cluster", c.Name, "instance", m.ID, "error", err)
			}
		}
	}
}

// openWhenAll closes gate once every one of chans is closed (nil ones
// are skipped); it returns without closing it if ctx ends first.
func openWhenAll(ctx context.Context, gate chan<- struct{}, chans ...<-chan struct{}) {
	for _, c := range chans {
		if c == nil {
			continue
		}
		select {
		case <-c:
		case <-ctx.Done():
			return
		}
	}
	close(gate)
}

// overrideStore is where manual drains are kept: shared through Consul
// with replicas, else the state file.
func (a *app) overrideStore() api.OverrideStore {
	if a.shared != nil {
		return a.shared
	}
	return a.drains
}
