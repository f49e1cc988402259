package probe

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/vigilhq/vigil/internal/fdbudget"
	"github.com/vigilhq/vigil/upstreams"
)

// CheckerOptions tune how a Checker connects.
type CheckerOptions struct {
	// TLS is the client config for scheme https (and grpc over TLS). Nil
	// means verified TLS with the system roots. When ServerName is empty it
	// is set from the target's host. The config is cloned, never modified.
	TLS *tls.Config
	// DialTimeout caps connecting (TCP and TLS handshake) within a probe's
	// deadline. Zero: the probe deadline alone.
	DialTimeout time.Duration
	// Poller, when set, takes over plain-HTTP keep-alive connections after
	// their first response (see Poller); nil keeps every probe blocking.
	Poller *Poller
	// TLSConfigs, when set, shares the TLS configs NewProbeChecker builds
	// from probes' own TLS settings between checkers; nil builds one per
	// checker.
	TLSConfigs *TLSConfigs
	// Budget, when set, bounds the descriptors probes use: a checker keeps
	// its connection only with a kept slot, else probes on short-lived
	// connections, each with a short-lived slot; with neither free the
	// probe is skipped (Response.Err is a LocalFault). Nil: no bound.
	Budget *fdbudget.Budget
	// Log is where checkers say what they notice about a target (a server
	// that drops pipelined requests); nil: slog.Default().
	Log *slog.Logger
}

// Stats counts what a Checker did with its connection. Reading them is
// safe while Check runs.
type Stats struct {
	Dials        uint64 // connections opened (including failed attempts)
	Probes       uint64 // Check calls
	Reused       uint64 // probes sent on an already open connection
	StaleRetries uint64 // reused connections found dead and redialed in-probe
	Failures     uint64 // probes that ended with Response.Err
	Pipelined    uint64 // pairs of probes sent in one write, the second pipelined
	ShortLived   uint64 // connections opened for one probe (or pair) and closed after it
	Skipped      uint64 // probes that ended with a LocalFault (vigil's own shortage)
	NoPipelining bool   // the server dropped a pipelined request: one at a time since
}

// StatsReporter is implemented by every Checker this package returns.
type StatsReporter interface {
	Stats() Stats
}

type counters struct {
	dials, probes, reused, staleRetries, failures, pipelined, shortLived, skipped atomic.Uint64
}

// ended counts how a probe ended: a failure, or a skip when err is
// vigil's own fault (see Skipped).
func (c *counters) ended(err error) {
	switch _, local := Skipped(err); {
	case local:
		c.skipped.Add(1)
	case err != nil:
		c.failures.Add(1)
	}
}

func (c *counters) snapshot() Stats {
	return Stats{
		Dials:        c.dials.Load(),
		Probes:       c.probes.Load(),
		Reused:       c.reused.Load(),
		StaleRetries: c.staleRetries.Load(),
		Failures:     c.failures.Load(),
		Pipelined:    c.pipelined.Load(),
		ShortLived:   c.shortLived.Load(),
		Skipped:      c.skipped.Load(),
	}
}

// NewChecker returns the Checker for one instance address. scheme is http
// or https ("" means http); for grpc, https selects TLS transport
// credentials. It does not connect: HTTP and gRPC connect on first Check.
func NewChecker(kind upstreams.ProbeKind, scheme, hostport string, opts CheckerOptions) (Checker, error) {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, fmt.Errorf("new checker: address %q: %w", hostport, err)
	}
	var tlsCfg *tls.Config
	switch scheme {
	case "", "http":
	case "https":
		tlsCfg = clientTLS(opts.TLS, host)
	default:
		return nil, fmt.Errorf("new checker for %s: unknown scheme %q", hostport, scheme)
	}
	switch kind {
	case upstreams.KindHTTP, "":
		return newHTTPChecker(hostport, tlsCfg, opts), nil
	case upstreams.KindGRPC:
		return newGRPCChecker(hostport, tlsCfg, opts)
	case upstreams.KindTCP:
		return newTCPChecker(hostport, opts), nil
	default:
		return nil, fmt.Errorf("new checker for %s: unknown probe kind %q", hostport, kind)
	}
}

// clientTLS derives the per-target TLS config: verification on unless the
// caller's config turns it off, ServerName from host, HTTP/1.1 only.
func clientTLS(base *tls.Config, host string) *tls.Config {
	var cfg *tls.Config
	if base != nil {
		cfg = base.Clone()
	} else {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	return cfg
}

// dialTCP connects to hostport by deadline (or earlier, per DialTimeout).
func dialTCP(hostport string, deadline time.Time, dialTimeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Deadline: deadline, Timeout: dialTimeout}
	return d.Dial("tcp", hostport)
}
