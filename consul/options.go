package consul

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// Defaults of Options.
const (
	DefaultDeployment           = "vigil"
	DefaultBatchWindow          = 200 * time.Millisecond
	DefaultOutputUpdateInterval = 30 * time.Second
	DefaultResyncInterval       = 60 * time.Second
	DefaultRequestTimeout       = 10 * time.Second
	DefaultBreakerOpenTimeout   = 10 * time.Second
	DefaultHealthInterval       = 2 * time.Second
	DefaultNodeAddress          = "127.0.0.1"
)

// Metrics receives the publisher's measurements. Implementations must be
// safe for concurrent use and must not block.
type Metrics interface {
	// ConsulWrite counts one /v1/txn write: "ok", "error", "cas_conflict"
	// or "fenced" (rolled back: this replica no longer holds the writer lock).
	ConsulWrite(result string)
	// ConsulBreakerState reports the breaker's state: "closed", "half-open" or "open".
	ConsulBreakerState(state string)
}

// Options configure a Publisher. Zero values take the defaults above.
type Options struct {
	Address    string // Consul HTTP address, host:port or URL; empty: the consul/api default (CONSUL_HTTP_ADDR or 127.0.0.1:8500)
	Token      string // ACL token; needs node:write on Node and service:write on every published service
	Datacenter string // empty: the agent's datacenter

	// Deployment marks what this vigil owns: its node carries NodeMeta
	// vigil-deployment=<Deployment> and every service it registers carries
	// the same meta key. Default "vigil".
	Deployment string
	// Node is the external node vigil registers instances on. Default
	// "vigil-<Deployment>".
	Node string
	// NodeAddress is the address recorded for Node. Every service carries
	// its own address, so this only shows in node lookups. Default 127.0.0.1.
	NodeAddress string

	BatchWindow          time.Duration // a status change is written within this window (200ms)
	OutputUpdateInterval time.Duration // an output-only change is written at most this often per instance (30s)
	ResyncInterval       time.Duration // full reconcile period (60s)
	RequestTimeout       time.Duration // bound on one Consul call (10s)
	BreakerOpenTimeout   time.Duration // how long the breaker stays open before a trial call (10s)
	// HealthInterval is how often the publisher asks Consul for its leader,
	// through the breaker, so that an outage shows in Healthy (and the
	// breaker) within seconds even with nothing to write (2s). After a
	// failed check the next one comes sooner.
	HealthInterval time.Duration

	// Client is the Consul client to use; nil: one is made from Address,
	// Token and Datacenter. Share one client across everything that talks
	// to the same agent, so they share its connections.
	Client *consulapi.Client

	// HoldUntil, when set, delays every write until it is closed. Pass the
	// aggregator's FirstRound() so that a restarted vigil neither publishes
	// its initial statuses over the verdicts already in the catalog nor
	// deregisters instances the store has not been loaded with yet.
	HoldUntil <-chan struct{}

	// Fence, when set, makes this publisher one replica's: it writes only
	// while Fence returns an operation, and puts that operation first in
	// every transaction, so Consul rolls the whole transaction back unless
	// this replica still holds the writer lock at that moment. nil from
	// Fence: another replica writes; nothing is sent. Call WriterChanged on
	// every change of the lock. nil: a single vigil, always the writer.
	Fence func() *consulapi.TxnOp

	Metrics Metrics      // nil: none
	Logger  *slog.Logger // nil: slog.Default()
}

func (o Options) withDefaults() Options {
	if o.Deployment == "" {
		o.Deployment = DefaultDeployment
	}
	if o.Node == "" {
		o.Node = "vigil-" + o.Deployment
	}
	if o.NodeAddress == "" {
		o.NodeAddress = DefaultNodeAddress
	}
	if o.BatchWindow <= 0 {
		o.BatchWindow = DefaultBatchWindow
	}
	if o.OutputUpdateInterval <= 0 {
		o.OutputUpdateInterval = DefaultOutputUpdateInterval
	}
	if o.ResyncInterval <= 0 {
		o.ResyncInterval = DefaultResyncInterval
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.BreakerOpenTimeout <= 0 {
		o.BreakerOpenTimeout = DefaultBreakerOpenTimeout
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = DefaultHealthInterval
	}
	if o.Metrics == nil {
		o.Metrics = nopMetrics{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

func (o Options) validate() error {
	var errs []error
	if !validMetaValue(o.Deployment) {
		errs = append(errs, fmt.Errorf("deployment %q: must be 1-512 characters", o.Deployment))
	}
	if o.Node == "" || strings.ContainsAny(o.Node, ":/") || sanitizeID(o.Node) != o.Node {
		errs = append(errs, fmt.Errorf("node %q: must be non-empty letters, digits, '.', '_' or '-'", o.Node))
	}
	return errors.Join(errs...)
}

type nopMetrics struct{}

func (nopMetrics) ConsulWrite(string)        {}
func (nopMetrics) ConsulBreakerState(string) {}
