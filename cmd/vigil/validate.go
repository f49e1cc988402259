package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/vigilhq/vigil/aggregator/dialect"
	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/upstreams"
)

// loadConfig reads and validates a config file, compiling CEL rules.
func loadConfig(path string) (*config.Config, error) {
	return config.Load(path, dialect.ConfigOption())
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "vigil.yaml", "config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		var list *config.Errors
		if errors.As(err, &list) {
			// A failed write to stdout or stderr has nowhere to be reported;
			// the exit code still tells.
			for _, e := range list.List {
				_, _ = fmt.Fprintln(stderr, e.String())
			}
			_, _ = fmt.Fprintf(stderr, "%s: %d error(s)\n", *path, len(list.List))
		} else {
			_, _ = fmt.Fprintf(stderr, "%s: %v\n", *path, err)
		}
		return 1
	}
	n := 0
	for _, c := range cfg.Clusters {
		n += len(c.Instances) + len(c.FileInstances)
	}
	_, _ = fmt.Fprintf(stdout, "%s: ok (%d clusters, %d instances)\n", *path, len(cfg.Clusters), n) // as above
	if w := validateFit(upstreams.FromConfig(cfg)); w != "" {
		_, _ = fmt.Fprintln(stderr, w)
	}
	return 0
}
