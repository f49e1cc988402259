package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vigilhq/vigil/fleet"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr, nil)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// options are fleetsim's flags.
type options struct {
	n            int
	formats      string
	host         string
	portBase     int
	perHost      int
	idPrefix     string
	initial      string
	control      string
	out          string
	slowDelay    time.Duration
	animate      time.Duration
	filesPerInst int
	logLevel     string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("fleetsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.n, "n", 10, "number of instances")
	fs.StringVar(&o.formats, "formats", "mix", `comma-separated formats, "mix" (all HTTP formats) or "all" (adds grpc)`)
	fs.StringVar(&o.host, "host", "127.0.0.1", "first loopback address; every -per-host instances use the next address")
	fs.IntVar(&o.portBase, "port-base", 0, "first port on every address (consecutive ports); 0 lets the OS pick")
	fs.IntVar(&o.perHost, "per-host", 1000, "instances per loopback address")
	fs.StringVar(&o.idPrefix, "id-prefix", "inst-", "instance ID prefix; give each process its own")
	fs.StringVar(&o.initial, "initial", "ready", "initial state of every instance")
	fs.StringVar(&o.control, "control", "127.0.0.1:0", "listen address of the control API (empty: none)")
	fs.StringVar(&o.out, "instances-out", "", "write the instances to this file (.json: JSON, else YAML)")
	fs.DurationVar(&o.slowDelay, "slow-delay", 3*time.Second, "how long slow instances wait before answering")
	fs.DurationVar(&o.animate, "animate", 0, "change a random instance's state this often (0: never)")
	fs.IntVar(&o.filesPerInst, "files-per-instance", 3, "open files to budget per instance (listener + prober connections)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("fleetsim: unexpected arguments %q", fs.Args())
	}
	if o.n < 0 || o.filesPerInst < 1 {
		return o, fmt.Errorf("fleetsim: -n must be >= 0 and -files-per-instance >= 1")
	}
	return o, nil
}

// run serves the fleet until ctx is done. When started is not nil it
// receives the control API's address (empty without one) once all is up.
func run(ctx context.Context, args []string, stderr io.Writer, started chan<- string) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("fleetsim: -log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	formats, err := fleet.ParseFormats(o.formats)
	if err != nil {
		return err
	}
	initial, err := fleet.ParseState(o.initial)
	if err != nil {
		return err
	}
	soft, hard, raised, err := openFileLimit()
	if err != nil {
		return err
	}
	log.Info("fleetsim: open file limit", "soft", soft, "hard", hard, "raised_by_fleetsim", raised)
	if err := checkFiles(o.n, o.filesPerInst, soft, hard); err != nil {
		return err
	}

	f, err := fleet.Start(ctx, fleet.Spec{
		N: o.n, Formats: formats, Host: o.host, PerHost: o.perHost, Port: o.portBase,
		IDPrefix: o.idPrefix, Initial: initial, SlowDelay: o.slowDelay, Logger: log,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := f.Close(); err != nil {
			log.Warn("fleetsim: closing the fleet", "error", err)
		}
	}()

	if o.out != "" {
		if err := writeInstances(o.out, f.Instances()); err != nil {
			return err
		}
		log.Info("fleetsim: wrote instances file", "path", o.out, "instances", o.n)
	}

	controlAddr := ""
	errc := make(chan error, 1)
	if o.control != "" {
		ln, err := net.Listen("tcp", o.control)
		if err != nil {
			return fmt.Errorf("fleetsim: control API listen %s: %w", o.control, err)
		}
		srv := &http.Server{Handler: f.ControlHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("fleetsim: control API: %w", err)
			}
		}()
		defer func() {
			shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(shutCtx); err != nil {
				log.Warn("fleetsim: control API shutdown", "error", err)
			}
		}()
		controlAddr = ln.Addr().String()
		log.Info("fleetsim: control API listening", "address", controlAddr)
	}

	animDone := make(chan struct{})
	animCtx, stopAnim := context.WithCancel(ctx)
	go func() {
		defer close(animDone)
		f.Animate(animCtx, o.animate, rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1)))
	}()
	defer func() { stopAnim(); <-animDone }()

	if started != nil {
		started <- controlAddr
	}
	select {
	case <-ctx.Done():
		log.Info("fleetsim: shutting down")
		return nil
	case err := <-errc:
		return err
	}
}

// writeInstances writes the instances file atomically, so a harness
// polling for it never reads half a file.
func writeInstances(path string, insts []fleet.Instance) error {
	b, err := fleet.MarshalInstancesFile(insts, strings.EqualFold(filepath.Ext(path), ".json"))
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".fleetsim-*")
	if err != nil {
		return fmt.Errorf("fleetsim: instances file: %w", err)
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // best-effort cleanup; after the rename there is nothing to remove
	if _, err := tmp.Write(b); err != nil {
		_ = tmp.Close() // the write's error is the one to report
		return fmt.Errorf("fleetsim: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("fleetsim: write %s: %w", tmp.Name(), err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("fleetsim: instances file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("fleetsim: instances file: %w", err)
	}
	return nil
}
