package main

import (
	"context"
	"errors"

	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/upstreams"
)

// discovery is a running Consul discovery source.
type discovery struct {
	cancel context.CancelFunc
	done   chan struct{} // closed once it stopped: no more updates come from it
}

// startDiscovery starts a Consul discovery source for the clusters of cfg
// that take their instances from Consul, on the process's Consul client.
// The caller holds reloadMu and has stopped the previous source.
func (a *app) startDiscovery(cfg *config.Config) {
	var disc []upstreams.Cluster
	var names []string
	for _, c := range upstreams.FromConfig(cfg) {
		if c.Discovery != nil {
			disc = append(disc, c)
			names = append(names, c.Name)
		}
	}
	if len(disc) == 0 {
		return
	}
	if a.consulClient == nil {
		a.log.Error("consul discovery needs a consul block when vigil starts; restart vigil to discover these clusters",
			"clusters", names)
		return
	}
	src := upstreams.NewConsulSource(a.consulClient, disc, a.discoveredUpdate)
	src.Logger = a.log
	ctx, cancel := context.WithCancel(context.Background())
	d := &discovery{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		if err := src.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("consul discovery stopped", "error", err)
		}
	}()
	a.source = d
}

// stopDiscovery stops the running source and waits until it has. The
// caller holds reloadMu.
func (a *app) stopDiscovery() {
	if a.source == nil {
		return
	}
	a.source.cancel()
	<-a.source.done
	a.source = nil
}

// discoveredUpdate applies a discovered cluster's new instance list.
func (a *app) discoveredUpdate(cluster string, insts []upstreams.Instance) {
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	a.mu.Lock()
	a.discovered[cluster] = insts
	cur := a.cfg
	a.mu.Unlock()
	clusters := a.clusters(cur)
	if err := a.agg.Apply(clusters); err != nil {
		a.log.Error("consul discovery: apply", "cluster", cluster, "error", err)
		return
	}
	a.fit.note(a.log, a.budget, clusters, "discovery", false)
}
