package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/vigilhq/vigil/config"
)

// parseWithLogger adds -log-format and -log-level to fs, parses args and
// builds the logger. On a bad flag it reports to stderr and returns the
// exit code (2) with a nil logger.
func parseWithLogger(fs *flag.FlagSet, args []string, stderr io.Writer) (*slog.Logger, int) {
	format := fs.String("log-format", "text", "text or json")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return nil, 2
	}
	log, err := newLogger(stderr, *format, *level)
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "vigil:", err) // a failed write to stderr has nowhere to be reported
		return nil, 2
	}
	return log, 0
}

// newLogger builds the structured logger.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format: %q is not text or json", format)
}

func cmdServe(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "vigil.yaml", "config file")
	withProfiling := fs.Bool("pprof", false, "serve net/http/pprof under /debug/pprof/ on the admin listener")
	stateRecover := fs.Bool("state-recover", false,
		"if the state file is damaged, keep what can still be read in a fresh one (the damaged file is kept beside it)")
	log, code := parseWithLogger(fs, args, stderr)
	if log == nil {
		return code
	}
	load := func() (*config.Config, error) { return loadConfig(*path) }
	cfg, err := load()
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "vigil: %s:\n%v\n", *path, err) // a failed write to stderr has nowhere to be reported
		return 1
	}
	return serve(cfg, load, log, serveOptions{pprof: *withProfiling, start: startOptions{stateRecover: *stateRecover}})
}

// serveOptions are serve's command-line switches.
type serveOptions struct {
	pprof bool
	start startOptions
}

// serve runs an app until a stop signal.
func serve(cfg *config.Config, load func() (*config.Config, error), log *slog.Logger, opts serveOptions) int {
	a, err := newApp(cfg, load, log, opts.start)
	if err != nil {
		log.Error("startup failed", "error", err)
		return 1
	}
	a.pprof = opts.pprof
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(signals)
	if err := a.run(context.Background(), signals); err != nil {
		log.Error("vigil failed", "error", err)
		return 1
	}
	return 0
}
