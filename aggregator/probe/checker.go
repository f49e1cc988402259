package probe

import (
	"crypto/tls"
	"fmt"
	"net"
	"sync/atomic"
	"time"

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
	NoPipelining bool   // the server dropped a pipelined request: one at a time since
}

// StatsReporter is implemented by every Checker this package returns.
type StatsReporter interface {
	Stats() Stats
}

type counters struct {
	dials, probes, reused, staleRetries, failures, pipelined atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Dials:        c.dials.Load(),
		Probes:       c.probes.Load(),
		Reused:       c.reused.Load(),
		StaleRetries: c.staleRetries.Load(),
		Failures:     c.failures.Load(),
		Pipelined:    c.pipelined.Load(),
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
		return newGRPCChecker(hostport, tlsCfg)
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
