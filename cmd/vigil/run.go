package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/replicas"
)

// run serves until ctx ends or a stop signal arrives. On SIGTERM/SIGINT
// /readyz turns 503 draining at once, xDS keeps serving for drain_period,
// then everything stops. SIGHUP reloads the config.
func (a *app) run(ctx context.Context, signals <-chan os.Signal) error {
	defer closeLogged(a.log, "state file", a.state)
	defer closeLogged(a.log, "verdict file", a.restart.file) // after the writer stopped (wg below), before the drains' file
	cfg := a.config()
	adminLn, xdsLn := a.adminLn, a.xdsLn
	var err error
	if adminLn == nil {
		if adminLn, err = net.Listen("tcp", cfg.Admin.Listen); err != nil {
			return fmt.Errorf("admin.listen: %w", err)
		}
	}
	if xdsLn == nil {
		if xdsLn, err = net.Listen("tcp", cfg.XDS.Listen); err != nil {
			_ = adminLn.Close() // never served: nothing to lose
			return fmt.Errorf("xds.listen: %w", err)
		}
	}
	clusters := a.clusters(cfg)
	if err := a.agg.Apply(clusters); err != nil {
		_ = adminLn.Close() // never served: nothing to lose
		_ = xdsLn.Close()   // likewise
		return err
	}
	a.fit.note(a.log, a.budget, clusters, "start", true)
	a.restart.logRestored(a.log)
	if n, err := api.RestoreOverrides(a.overrideStore(), a.agg, a.log); err != nil {
		a.log.Warn("restoring manual drains", "error", err)
	} else if n > 0 {
		a.log.Info("restored manual drains", "count", n)
	}
	a.reloadMu.Lock()
	a.startDiscovery(cfg)
	a.reloadMu.Unlock()

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
	aggDone := make(chan struct{})
	goRun("aggregator", func() error { defer close(aggDone); return a.agg.Run(probeCtx) })
	// The verdict writer stops after the aggregator, so the last results
	// are kept too.
	verdictCtx, stopVerdicts := context.WithCancel(context.Background())
	goRun("verdicts", func() error { return a.restart.writer.Run(verdictCtx) })
	var ready <-chan struct{}
	if a.replica != nil {
		ready = a.replica.ReadyC()
		goRun("replicas", func() error {
			err := a.replica.Run(pubCtx)
			if errors.Is(err, replicas.ErrIDInUse) {
				a.fatal <- fmt.Errorf("replicas.id %q: %w: give every replica its own id", a.replica.ID(), err)
			}
			return err
		})
		goRun("drains", func() error { return a.watchDrains(pubCtx) })
	}
	goRun("hold", func() error {
		if waitFirstRound(pubCtx, a.agg.FirstRound(), firstRoundBound(cfg), a.log) {
			openWhenAll(pubCtx, a.published, ready)
		}
		return nil
	})
	// xDS answers nothing until a.published (xds.Options.HoldUntil): a
	// client that connects meanwhile is connected, and its first answer is
	// the view every instance has a verdict in (merged with the peers'
	// with replicas), never initial statuses or an empty assignment.
	goRun("xds", func() error {
		return a.xds.Run(pubCtx, xdsLn)
	})
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
		"clusters", len(cfg.Clusters), "version", version)

	var failed error
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case failed = <-a.fatal:
			a.log.Error("stopping", "error", failed)
			break wait
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				_ = a.reload()
				continue
			}
			drain := a.config().DrainPeriod
			a.log.Info("stop signal: draining", "signal", sig.String(), "drain_period", drain)
			a.api.SetDraining()
			select {
			case <-time.After(drain):
			case <-ctx.Done():
			case <-signals: // a second signal skips the rest of the drain
			}
			break wait
		}
	}

	a.reloadMu.Lock()
	a.stopping = true
	a.stopDiscovery()
	a.reloadMu.Unlock()
	stopProbes()
	stopPublishers()
	<-aggDone
	stopVerdicts()
	a.api.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = httpSrv.Shutdown(shutdownCtx)
	wg.Wait()
	a.log.Info("vigil stopped")
	return failed
}
