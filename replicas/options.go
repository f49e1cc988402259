package replicas

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/membership"
)

// Defaults of Options.
const (
	DefaultDeployment = "vigil"
	DefaultSessionTTL = 10 * time.Second
	DefaultHeartbeat  = 2 * time.Second
	// DefaultLockDelay is the Consul lock-delay of a replica's session.
	// Consul's own default (15 s) would hold a new writer back that long;
	// every catalog write is fenced by the lock's session, so no delay is
	// needed to keep an old writer out.
	DefaultLockDelay = time.Millisecond
	// DefaultStreamPath is where part of the admin API serves Handler.
	DefaultStreamPath = "/api/v1/replica/verdicts"
	// stallBeats is how many heartbeats a stream may miss before it is dropped.
	stallBeats = 3
)

// Options configure a Replica. Zero values take the defaults above.
type Options struct {
	// ID names this replica; unique among the deployment's replicas. Required.
	ID string
	// Advertise is where peers reach this replica's admin listener
	// (host:port). Required.
	Advertise string
	// Scheme of the peers' admin listeners: "http" (default) or "https".
	Scheme string
	// StreamPath is where every replica serves Handler (DefaultStreamPath).
	StreamPath string
	// Deployment separates independent vigil deployments sharing a Consul
	// (the Consul publisher's deployment). Default "vigil".
	Deployment string
	// SessionTTL: a replica that stops renewing its session is gone after
	// this long (10 s).
	SessionTTL time.Duration
	// Quorum of the merge (majority).
	Quorum Quorum
	// Heartbeat is the period of a stream's heartbeat line (2 s); a stream
	// silent for three heartbeats is dropped and redialled.
	Heartbeat time.Duration
	// LockDelay of the session (DefaultLockDelay).
	LockDelay time.Duration
	// ReadyWait bounds how long Ready waits for the peers' snapshots after
	// start (2 x SessionTTL).
	ReadyWait time.Duration

	// Consul is the client of the agent this replica talks to. Required.
	// The replica's session is bound to a TTL check on that agent, so it
	// must be one agent (a local client agent or a fixed server), not a
	// load balancer over several.
	Consul *consulapi.Client
	// Local is the store this replica's aggregator writes its own verdicts
	// into. Required.
	Local *membership.Store
	// Merged is the store the publishers read; the replica is its only
	// writer. Required.
	Merged *membership.Store
	// HTTPClient dials the peers' streams; nil: a client of the replica's
	// own whose idle connections are closed when Run returns.
	HTTPClient *http.Client
	// OnWriterChange is called with true when this replica becomes the
	// catalog writer (run a full reconcile then) and false when it stops
	// being it; calls are serial, in order, and must not block for long.
	OnWriterChange func(writer bool)
	// Logger: nil means slog.Default().
	Logger *slog.Logger
	// now is the clock (tests); nil: time.Now.
	now func() time.Time
}

func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.ID == "" {
		errs = append(errs, errors.New("replicas.id is empty"))
	}
	if _, _, err := net.SplitHostPort(o.Advertise); err != nil {
		errs = append(errs, fmt.Errorf("replicas.advertise %q: want host:port: %w", o.Advertise, err))
	}
	if o.Consul == nil {
		errs = append(errs, errors.New("replicas: no Consul client"))
	}
	if o.Local == nil || o.Merged == nil {
		errs = append(errs, errors.New("replicas: the local and merged stores are required"))
	}
	if o.Local != nil && o.Local == o.Merged {
		errs = append(errs, errors.New("replicas: the local and merged stores must differ"))
	}
	q, err := ParseQuorum(string(o.Quorum))
	if err != nil {
		errs = append(errs, fmt.Errorf("replicas.quorum: %w", err))
	}
	o.Quorum = q
	if o.SessionTTL < 0 || o.Heartbeat < 0 || o.LockDelay < 0 || o.ReadyWait < 0 {
		errs = append(errs, errors.New("replicas: negative duration"))
	}
	switch o.Scheme {
	case "":
		o.Scheme = "http"
	case "http", "https":
	default:
		errs = append(errs, fmt.Errorf("replicas: scheme %q: want http or https", o.Scheme))
	}
	if len(errs) > 0 {
		return o, errors.Join(errs...)
	}
	if o.StreamPath == "" {
		o.StreamPath = DefaultStreamPath
	}
	if o.Deployment == "" {
		o.Deployment = DefaultDeployment
	}
	if o.SessionTTL == 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.LockDelay == 0 {
		o.LockDelay = DefaultLockDelay
	}
	if o.ReadyWait == 0 {
		o.ReadyWait = 2 * o.SessionTTL
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.now == nil {
		o.now = time.Now
	}
	return o, nil
}

// stall is how long a stream may be silent before it is dropped.
func (o Options) stall() time.Duration { return stallBeats * o.Heartbeat }

// callTimeout bounds one non-blocking Consul call.
func (o Options) callTimeout() time.Duration {
	return min(max(o.SessionTTL/3, time.Second), 10*time.Second)
}
