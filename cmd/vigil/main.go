// Command vigil is the health aggregator: it probes the liveness and
// readiness endpoints of many instances and publishes membership through
// Envoy xDS, the Consul catalog and an ops API.
//
//	vigil serve -config vigil.yaml
//	vigil validate -config vigil.yaml
//	vigil demo
//	vigil version
package main

import (
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const usage = `usage: vigil <command> [flags]

commands:
  serve -config FILE     run the aggregator
  validate -config FILE  check a config and print every error
  demo                   run against a simulated fleet (admin 127.0.0.1:8080, xDS 127.0.0.1:18000)
  version                print the version
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		_, _ = fmt.Fprint(stderr, usage) // a failed write to stderr has nowhere to be reported
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "demo":
		return cmdDemo(args[1:], stderr)
	case "version", "-version", "--version":
		_, _ = fmt.Fprintf(stdout, "vigil %s\n", version) // likewise for stdout
		return 0
	case "help", "-h", "-help", "--help":
		_, _ = fmt.Fprint(stdout, usage)
		return 0
	}
	_, _ = fmt.Fprintf(stderr, "vigil: unknown command %q\n%s", args[0], usage)
	return 2
}
