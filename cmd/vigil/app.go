package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilhq/vigil/aggregator"
	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/consul"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/metrics"
	"github.com/vigilhq/vigil/overrides"
	"github.com/vigilhq/vigil/upstreams"
	"github.com/vigilhq/vigil/xds"
)

// app wires one running vigil: upstreams -> aggregator -> publishers.
type app struct {
	log      *slog.Logger
	load     func() (*config.Config, error) // re-reads the config on reload
	cfg      *config.Config
	store    *membership.Store
	agg      *aggregator.Aggregator
	xds      *xds.Server
	consul   *consul.Publisher
	api      *api.Server
	metrics  *metrics.Metrics
	registry *prometheus.Registry
	drains   *overrides.Store

	// pprof serves net/http/pprof on the admin listener (-pprof).
	pprof bool

	// adminLn and xdsLn, when set before run, are used instead of listening
	// on the configured addresses (tests pass free ports this way).
	adminLn, xdsLn net.Listener

	// applyMu serializes "apply clusters, then remember the config" between
	// reloads and discovery updates, so neither re-applies a stale config.
	applyMu    sync.Mutex
	mu         sync.Mutex
	discovered map[string][]upstreams.Instance // cluster -> instances found in Consul
	stopSource context.CancelFunc
}

func newApp(cfg *config.Config, load func() (*config.Config, error), log *slog.Logger) (*app, error) {
	a := &app{log: log, load: load, cfg: cfg, discovered: map[string][]upstreams.Instance{}}
	a.registry = prometheus.NewRegistry()
	a.metrics = metrics.New(a.registry)
	a.store = membership.NewStore(cfg.EventHistory)
	a.agg = aggregator.New(aggregator.Options{Store: a.store, MaxConcurrency: cfg.MaxConcurrency,
		Logger: log.With("component", "aggregator"), Observer: a.metrics})
	xopts := xds.DefaultOptions()
	xopts.Logger = log
	xopts.Metrics = a.metrics
	if cfg.XDS.GRPCListeners != nil {
		xopts.GRPCListeners = *cfg.XDS.GRPCListeners
	}
	a.xds = xds.New(a.store, xopts)
	a.registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "vigil_probes_started_total",
			Help: "Probes started by the scheduler."},
			func() float64 { return float64(a.agg.Stats().Probes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "vigil_probes_late_total",
			Help: "Probes that started more than 100 ms after their due time."},
			func() float64 { return float64(a.agg.Stats().Late) }),
	)
	if c := cfg.Consul; c != nil {
		pub, err := consul.NewPublisher(a.store, consul.Options{Address: c.Address, Token: c.Token, Datacenter: c.Datacenter,
			Deployment: c.Deployment, Node: c.Node, BatchWindow: c.BatchWindow, OutputUpdateInterval: c.OutputUpdateInterval,
			ResyncInterval: c.ResyncInterval, HoldUntil: a.agg.FirstRound(), Metrics: a.metrics,
			Logger: log})
		if err != nil {
			return nil, fmt.Errorf("consul publisher: %w", err)
		}
		a.consul = pub
	}
	stateDir := cfg.StateDir
	if stateDir == "" {
		stateDir = "vigil-state"
	}
	drains, err := overrides.Open(stateDir)
	if err != nil {
		return nil, fmt.Errorf("state_dir %s: %w", stateDir, err)
	}
	a.drains = drains
	token, err := adminToken(cfg)
	if err != nil {
		drains.Close()
		return nil, err
	}
	a.api = api.New(api.Options{Store: a.store, Aggregator: a.agg, Overrides: drains, Token: token,
		Reload: a.reload, Metrics: a.registry, Logger: log, Version: version})
	a.api.AddReadinessCheck("config", func() (bool, string) { return true, "loaded" })
	a.api.AddReadinessCheck("first_probe_round", func() (bool, string) {
		select {
		case <-a.agg.FirstRound():
			return true, "done"
		default:
			return false, "probing"
		}
	})
	a.api.AddReadinessCheck("xds", func() (bool, string) {
		if a.xds.Serving() {
			return true, "serving"
		}
		return false, "not serving"
	})
	if a.consul != nil {
		a.api.AddReadinessCheck("consul", a.consul.Healthy)
	}
	return a, nil
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

// reload re-reads the config and applies its clusters. An invalid config
// is rejected and the running one stays. Listeners, Consul settings and
// state_dir take effect only on restart.
func (a *app) reload() error {
	cfg, err := a.load()
	if err != nil {
		a.log.Error("reload rejected: config invalid, keeping the running config", "error", err)
		return err
	}
	a.applyMu.Lock()
	err = a.agg.Apply(a.clusters(cfg))
	if err == nil {
		a.mu.Lock()
		a.cfg = cfg
		a.mu.Unlock()
	}
	a.applyMu.Unlock()
	if err != nil {
		a.log.Error("reload rejected", "error", err)
		return err
	}
	a.startDiscovery(cfg)
	a.log.Info("config reloaded", "clusters", len(cfg.Clusters))
	return nil
}

// startDiscovery (re)starts the Consul discovery source for the clusters
// that take their instances from Consul.
func (a *app) startDiscovery(cfg *config.Config) {
	a.mu.Lock()
	if a.stopSource != nil {
		a.stopSource()
		a.stopSource = nil
	}
	a.mu.Unlock()
	var disc []upstreams.Cluster
	for _, c := range upstreams.FromConfig(cfg) {
		if c.Discovery != nil {
			disc = append(disc, c)
		}
	}
	if len(disc) == 0 || cfg.Consul == nil {
		return
	}
	client, err := consul.NewClient(consul.Options{Address: cfg.Consul.Address, Token: cfg.Consul.Token,
		Datacenter: cfg.Consul.Datacenter})
	if err != nil {
		a.log.Error("consul discovery: client", "error", err)
		return
	}
	src := upstreams.NewConsulSource(client, disc, func(cluster string, insts []upstreams.Instance) {
		a.applyMu.Lock()
		defer a.applyMu.Unlock()
		a.mu.Lock()
		a.discovered[cluster] = insts
		cur := a.cfg
		a.mu.Unlock()
		if err := a.agg.Apply(a.clusters(cur)); err != nil {
			a.log.Error("consul discovery: apply", "cluster", cluster, "error", err)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	a.mu.Lock()
	a.stopSource = cancel
	a.mu.Unlock()
	go func() {
		if err := src.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("consul discovery stopped", "error", err)
		}
	}()
}

// run serves until ctx ends or a stop signal arrives. On SIGTERM/SIGINT
// /readyz turns 503 draining at once, xDS keeps serving for drain_period,
// then everything stops. SIGHUP reloads the config.
func (a *app) run(ctx context.Context, signals <-chan os.Signal) error {
	adminLn, xdsLn := a.adminLn, a.xdsLn
	var err error
	if adminLn == nil {
		if adminLn, err = net.Listen("tcp", a.cfg.Admin.Listen); err != nil {
			return fmt.Errorf("admin.listen: %w", err)
		}
	}
	if xdsLn == nil {
		if xdsLn, err = net.Listen("tcp", a.cfg.XDS.Listen); err != nil {
			adminLn.Close()
			return fmt.Errorf("xds.listen: %w", err)
		}
	}
	if err := a.agg.Apply(a.clusters(a.cfg)); err != nil {
		adminLn.Close()
		xdsLn.Close()
		return err
	}
	if n, err := api.RestoreOverrides(a.drains, a.agg, a.log); err != nil {
		a.log.Warn("restoring manual drains", "error", err)
	} else if n > 0 {
		a.log.Info("restored manual drains", "count", n)
	}
	a.startDiscovery(a.cfg)

	probeCtx, stopProbes := context.WithCancel(context.Background())
	pubCtx, stopPublishers := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	goRun := func(name string, fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("stopped with error", "component", name, "error", err)
			}
		}()
	}
	goRun("aggregator", func() error { return a.agg.Run(probeCtx) })
	goRun("xds", func() error { return a.xds.Run(pubCtx, xdsLn) })
	goRun("metrics", func() error { return a.metrics.Run(pubCtx, a.store) })
	if a.consul != nil {
		goRun("consul", func() error { return a.consul.Run(pubCtx) })
	}
	handler := a.api.Handler()
	if a.pprof {
		handler = withPprof(handler)
		a.log.Warn("pprof enabled on the admin listener under /debug/pprof/ (no auth)")
	}
	httpSrv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	goRun("admin", func() error { return httpSrv.Serve(adminLn) })
	a.log.Info("vigil serving", "admin", adminLn.Addr().String(), "xds", xdsLn.Addr().String(),
		"clusters", len(a.cfg.Clusters), "version", version)

wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				_ = a.reload()
				continue
			}
			a.log.Info("stop signal: draining", "signal", sig.String(), "drain_period", a.cfg.DrainPeriod)
			a.api.SetDraining()
			select {
			case <-time.After(a.cfg.DrainPeriod):
			case <-ctx.Done():
			case <-signals: // a second signal skips the rest of the drain
			}
			break wait
		}
	}

	a.mu.Lock()
	if a.stopSource != nil {
		a.stopSource()
	}
	a.mu.Unlock()
	stopProbes()
	stopPublishers()
	a.api.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = httpSrv.Shutdown(shutdownCtx)
	wg.Wait()
	a.drains.Close()
	a.log.Info("vigil stopped")
	return nil
}
