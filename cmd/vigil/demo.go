package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/vigilhq/vigil/aggregator/dialect"
	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/fleet"
)

// demoCluster says how vigil probes one simulated format.
type demoCluster struct {
	format          fleet.Format
	name, dialect   string
	kind            string
	liveness, ready string
	cel             *config.CEL
}

var demoClusters = []demoCluster{
	{format: fleet.FormatDynamoFrontend, name: "dynamo-frontend", dialect: "dynamo", liveness: "/live", ready: "/health"},
	{format: fleet.FormatDynamoWorker, name: "dynamo-workers", dialect: "dynamo", liveness: "/live", ready: "/health"},
	{format: fleet.FormatHealthz, name: "engines", dialect: "healthz", liveness: "/healthz", ready: "/readyz"},
	{format: fleet.FormatNativeLink, name: "nativelink", dialect: "nativelink", ready: "/status"},
	{format: fleet.FormatAMSDAL, name: "amsdal", dialect: "amsdal", liveness: "/api/probes/liveness/", ready: "/api/probes/readiness/"},
	{format: fleet.FormatStatus, name: "plain", dialect: "status", liveness: "/healthz", ready: "/ready"},
	{format: fleet.FormatGRPC, name: "grpc-backends", kind: "grpc"},
	// The same engines read through CEL expressions, as a custom JSON service would be.
	{format: fleet.FormatHealthz, name: "engines-cel", dialect: "cel", ready: "/readyz", cel: &config.CEL{
		Pass:  `status == 200 && body.status == "ready"`,
		Drain: `body != null && has(body.draining) && body.draining`,
	}},
}

// demoConfig builds the config of `vigil demo` around a running fleet.
func demoConfig(f *fleet.Fleet, adminAddr, xdsAddr, stateDir string) (*config.Config, error) {
	return fleetConfig(f, adminAddr, xdsAddr, stateDir, time.Second)
}

// fleetConfig probes every simulated format every interval.
func fleetConfig(f *fleet.Fleet, adminAddr, xdsAddr, stateDir string, interval time.Duration) (*config.Config, error) {
	cfg := config.Default()
	cfg.Admin.Listen, cfg.XDS.Listen, cfg.StateDir = adminAddr, xdsAddr, stateDir
	cfg.DrainPeriod = time.Second
	cfg.Defaults.Interval = interval
	cfg.Defaults.UnhealthyInterval = 2 * interval
	cfg.Defaults.Timeout = interval / 2
	cfg.Defaults.HealthyThreshold, cfg.Defaults.UnhealthyThreshold = 2, 3
	zones := []string{"z1", "z2"}
	for _, dc := range demoClusters {
		// Panic threshold 0: Envoy never sends traffic to hosts vigil took out.
		c := config.Cluster{Name: dc.name, Dialect: dc.dialect, InitialStatus: "unknown",
			HealthyPanicThreshold: config.Ptr(0.0)}
		probe := func(path string) *config.Probe {
			if dc.kind == "grpc" {
				return &config.Probe{Kind: "grpc"}
			}
			if path == "" {
				return nil
			}
			return &config.Probe{Path: path, CEL: dc.cel}
		}
		c.Liveness, c.Readiness = probe(dc.liveness), probe(dc.ready)
		if dc.kind == "grpc" {
			c.Liveness = nil
		}
		for i, in := range f.Instances() {
			if in.Format == dc.format {
				c.Instances = append(c.Instances, config.Instance{ID: in.ID, Address: in.Address, Weight: 1,
					Region: "demo", Zone: zones[i%len(zones)]})
			}
		}
		cfg.Clusters = append(cfg.Clusters, c)
	}
	if err := cfg.Finish(dialect.ConfigOption()); err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	return cfg, nil
}

func cmdDemo(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	adminAddr := fs.String("admin", "127.0.0.1:8080", "admin API and dashboard listen address")
	xdsAddr := fs.String("xds", "127.0.0.1:18000", "xDS listen address")
	perFormat := fs.Int("per-format", 4, "simulated instances per format")
	every := fs.Duration("animate", 3*time.Second, "how often a random instance changes state")
	log, code := parseWithLogger(fs, args, stderr)
	if log == nil {
		return code
	}
	formats := []fleet.Format{fleet.FormatDynamoFrontend, fleet.FormatDynamoWorker, fleet.FormatHealthz,
		fleet.FormatNativeLink, fleet.FormatAMSDAL, fleet.FormatStatus, fleet.FormatGRPC}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, err := fleet.Start(ctx, fleet.Spec{N: *perFormat * len(formats), Formats: formats, SlowDelay: 2 * time.Second,
		Logger: log.With("component", "fleet")})
	if err != nil {
		log.Error("demo fleet", "error", err)
		return 1
	}
	defer closeLogged(log, "demo fleet", f)
	go f.Animate(ctx, *every, rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7)))

	stateDir := filepath.Join(os.TempDir(), "vigil-demo-state")
	cfg, err := demoConfig(f, *adminAddr, *xdsAddr, stateDir)
	if err != nil {
		log.Error("demo", "error", err)
		return 1
	}
	if os.Getenv("VIGIL_ADMIN_TOKEN") == "" {
		if err := os.Setenv("VIGIL_ADMIN_TOKEN", "demo"); err != nil {
			log.Error("demo admin token", "error", err)
			return 1
		}
		log.Info("demo admin token for drain/undrain: demo (set VIGIL_ADMIN_TOKEN to choose another)")
	}
	log.Info("demo fleet started", "instances", len(f.Instances()), "dashboard", "http://"+*adminAddr+"/")
	return serve(cfg, func() (*config.Config, error) { return demoConfig(f, *adminAddr, *xdsAddr, stateDir) }, log, serveOptions{})
}
