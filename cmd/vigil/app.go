package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/vigilhq/vigil/aggregator"
	"github.com/vigilhq/vigil/aggregator/probe"
	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/consul"
	"github.com/vigilhq/vigil/internal/fdbudget"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/metrics"
	"github.com/vigilhq/vigil/overrides"
	"github.com/vigilhq/vigil/replicas"
	"github.com/vigilhq/vigil/upstreams"
	"github.com/vigilhq/vigil/xds"
)

// app wires one running vigil: upstreams -> aggregator -> publishers.
type app struct {
	log      *slog.Logger
	load     func() (*config.Config, error) // re-reads the config on reload
	store    *membership.Store              // what the publishers (xDS, Consul, API, metrics) read
	agg      *aggregator.Aggregator
	xds      *xds.Server
	consul   *consul.Publisher
	api      *api.Server
	metrics  *metrics.Metrics
	registry *prometheus.Registry
	state    *bolt.DB         // state_dir's file, shared by the stores kept in it
	budget   *fdbudget.Budget // probe connections' share of the open-file limit (nil: unbounded)
	fit      fitNotes         // what was last said about the fleet and the limit
	drains   *overrides.Store
	restart  *restart // verdicts restored at start and kept for the next

	// local is what the aggregator writes: store itself for a single
	// vigil; with replicas, this replica's own verdicts, which replica
	// merges with its peers' into store.
	local   *membership.Store
	replica *replicas.Replica // nil: replicas off
	shared  *replicas.Drains  // drains shared through Consul; nil: replicas off
	// published closes when xDS and Consul may publish: after the first
	// probe round (at once when every instance was restored; bounded, see
	// waitFirstRound) and, with replicas, once the peers' verdicts are
	// merged.
	published chan struct{}
	fatal     chan error // a component that cannot go on stops vigil

	// consulClient is the process's one Consul client (nil without a
	// consul block), shared by the publisher and discovery across reloads:
	// Consul settings take effect on restart only.
	consulClient *consulapi.Client
	consulCfg    *config.Consul // the consul block vigil started with

	// pprof serves net/http/pprof on the admin listener (-pprof).
	pprof bool

	// adminLn and xdsLn, when set before run, are used instead of listening
	// on the configured addresses (tests pass free ports this way).
	adminLn, xdsLn net.Listener

	// reloadMu lets one reload (or the start or stop of discovery) run at a
	// time, so two never both start a discovery source.
	reloadMu sync.Mutex
	source   *discovery // guarded by reloadMu; nil: none running
	stopping bool       // guarded by reloadMu: no more reloads

	// applyMu serializes "apply clusters, then remember the config" between
	// reloads and discovery updates, so neither re-applies a stale config.
	applyMu    sync.Mutex
	mu         sync.Mutex                      // guards cfg and discovered
	cfg        *config.Config                  // the running config; read it with config()
	discovered map[string][]upstreams.Instance // cluster -> instances found in Consul
}

// startOptions are serve's flags that newApp needs.
type startOptions struct {
	stateRecover bool // -state-recover: take a damaged state file, keeping what can be read
}

func newApp(cfg *config.Config, load func() (*config.Config, error), log *slog.Logger, opts startOptions) (*app, error) {
	a := &app{log: log, load: load, cfg: cfg, discovered: map[string][]upstreams.Instance{},
		published: make(chan struct{}), fatal: make(chan error, 1)}
	a.registry = prometheus.NewRegistry()
	a.metrics = metrics.New(a.registry)
	a.store = membership.NewStore(cfg.EventHistory)
	a.local = a.store
	if cfg.ReplicasOn() {
		a.local = membership.NewStore(cfg.EventHistory)
	}
	a.metrics.FailSafeFrom(a.local.FailSafe) // the fail-safe is the local aggregator's
	a.budget = openFileBudget(log)
	a.registry.MustRegister(metrics.NewBudgetCollector(a.budget))
	fs := failSafeOf(cfg)
	a.agg = aggregator.New(aggregator.Options{Store: a.local, MaxConcurrency: cfg.MaxConcurrency,
		Logger: log.With("component", "aggregator"), Observer: a.metrics, FailSafe: &fs,
		Checkers: probe.CheckerOptions{Budget: a.budget},
		Restore: func(spec *upstreams.Cluster, in upstreams.Instance) (membership.Member, bool) {
			return a.restart.lookup(spec, in) // opened below, before the first Apply
		}})
	xopts := xds.DefaultOptions()
	xopts.Logger = log
	xopts.Metrics = a.metrics
	xopts.HoldUntil = a.published
	if cfg.XDS.GRPCListeners != nil {
		xopts.GRPCListeners = *cfg.XDS.GRPCListeners
	}
	a.xds = xds.New(a.store, xopts)
	a.registry.MustRegister(
		counterFunc("vigil_probes_started_total", "Probes started by the scheduler.",
			func() uint64 { return a.agg.Stats().Probes }),
		counterFunc("vigil_probes_late_total", "Probes that started more than 100 ms after their due time.",
			func() uint64 { return a.agg.Stats().Late }),
	)
	if c := cfg.Consul; c != nil {
		client, err := consul.NewClient(consul.Options{Address: c.Address, Token: c.Token, Datacenter: c.Datacenter})
		if err != nil {
			return nil, fmt.Errorf("consul: %w", err)
		}
		a.consulClient, a.consulCfg = client, c
		popts := consul.Options{Client: client, Address: c.Address,
			Deployment: c.Deployment, Node: c.Node, BatchWindow: c.BatchWindow, OutputUpdateInterval: c.OutputUpdateInterval,
			ResyncInterval: c.ResyncInterval, HoldUntil: a.published, Metrics: a.metrics,
			Logger: log}
		if cfg.ReplicasOn() {
			rep, err := a.newReplica(cfg, a.local, a.store, func(w bool) { a.consul.WriterChanged(w) })
			if err != nil {
				return nil, err
			}
			a.replica, popts.Fence = rep, rep.FenceOp
			if err := metrics.RegisterReplicas(a.registry, rep); err != nil {
				return nil, fmt.Errorf("replica metrics: %w", err)
			}
		}
		pub, err := consul.NewPublisher(a.store, popts)
		if err != nil {
			return nil, fmt.Errorf("consul publisher: %w", err)
		}
		a.consul = pub
	}
	state, err := openState(cfg, opts.stateRecover, log)
	if err != nil {
		return nil, err
	}
	drains, err := overrides.New(state)
	if err != nil {
		closeLogged(log, "state file", state)
		return nil, err
	}
	a.state, a.drains = state, drains
	var shown api.Replicas
	if a.replica != nil {
		if a.shared, err = a.newSharedDrains(cfg, drains); err != nil {
			closeLogged(log, "state file", state)
			return nil, err
		}
		shown = a.replica
	}
	token, err := adminToken(cfg)
	if err != nil {
		closeLogged(log, "state file", state)
		return nil, err
	}
	a.api = api.New(api.Options{Store: a.store, Aggregator: a.agg, Overrides: a.overrideStore(), Replicas: shown, Token: token,
		Reload: a.reload, Metrics: a.registry, Logger: log, Version: version, FailSafe: a.local.FailSafe})
	a.api.AddReadinessCheck("config", func() (bool, string) { return true, "loaded" })
	a.api.AddReadinessCheck("first_probe_round", func() (bool, string) {
		select {
		case <-a.agg.FirstRound():
			return true, "done"
		default:
			return false, "probing"
		}
	})
	a.api.AddReadinessCheck("resources", a.agg.Resources)
	a.api.AddReadinessCheck("xds", func() (bool, string) {
		if a.xds.Serving() {
			return true, "serving"
		}
		return false, "not serving"
	})
	if a.consul != nil {
		a.api.AddReadinessCheck("consul", a.consul.Healthy)
	}
	if a.replica != nil {
		a.api.AddReadinessCheck("replicas", a.replica.Ready)
	}
	// The verdicts this vigil's own probes reached (a replica's, before
	// the merge with its peers') are kept for its next start.
	a.restart = openRestart(cfg, a.local, log)
	a.restart.register(a.registry)
	a.seedDiscovered(cfg)
	return a, nil
}

// failSafeOf is the config's fail_safe block for the aggregator.
func failSafeOf(cfg *config.Config) aggregator.FailSafe {
	return aggregator.FailSafe{Enabled: cfg.FailSafe.Enabled == nil || *cfg.FailSafe.Enabled,
		GlobalFailurePercent: cfg.FailSafe.GlobalFailurePercent, MinClusters: cfg.FailSafe.MinClusters}
}

// seedDiscovered starts each cluster discovered from Consul with the
// instances it last published, until discovery's first answer.
func (a *app) seedDiscovered(cfg *config.Config) {
	if a.consulClient == nil {
		return // no discovery will ever answer: do not publish the seeds for good
	}
	for _, c := range upstreams.FromConfig(cfg) {
		if c.Discovery == nil {
			continue
		}
		if seeds := a.restart.seeds(&c); len(seeds) > 0 {
			a.discovered[c.Name] = seeds
			a.log.Info("consul discovery: cluster seeded with its last published instances until discovery answers",
				"cluster", c.Name, "instances", len(seeds))
		}
	}
}

// adminToken reads admin.token_file, else $VIGIL_ADMIN_TOKEN.
func adminToken(cfg *config.Config) (string, error) {
	if cfg.Admin.TokenFile != "" {
		path := cfg.Admin.TokenFile
		if !filepath.IsAbs(path) && cfg.Dir != "" {
			path = filepath.Join(cfg.Dir, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("admin.token_file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return os.Getenv("VIGIL_ADMIN_TOKEN"), nil
}

// config is the running config.
func (a *app) config() *config.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// clusters is the config's clusters with discovered instances filled in.
func (a *app) clusters(cfg *config.Config) []upstreams.Cluster {
	cs := upstreams.FromConfig(cfg)
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range cs {
		if cs[i].Discovery != nil {
			cs[i].Instances = a.discovered[cs[i].Name]
		}
	}
	return cs
}

// closeLogged closes c, logging (not returning) a failure: for closes on
// the way out, where an error has nothing left to undo but should be seen.
func closeLogged(log *slog.Logger, what string, c io.Closer) {
	if err := c.Close(); err != nil {
		log.Warn("closing "+what, "error", err)
	}
}
