package fleet

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/vigilhq/vigil/upstreams"
)

// Format is the probe protocol an instance speaks.
type Format string

// Formats the fleet can simulate.
const (
	FormatDynamoFrontend Format = "dynamo-frontend" // GET /live, GET /health
	FormatDynamoWorker   Format = "dynamo-worker"   // system status server: GET /live, GET /health
	FormatHealthz        Format = "healthz"         // GET /healthz, GET /readyz
	FormatNativeLink     Format = "nativelink"      // GET /status
	FormatAMSDAL         Format = "amsdal"          // GET /api/probes/liveness/, /api/probes/readiness/
	FormatStatus         Format = "status"          // GET /healthz, GET /ready (text "ok")
	FormatGRPC           Format = "grpc"            // grpc.health.v1, service ""
)

// HTTPFormats are all formats served over HTTP, in the order of the default mix.
func HTTPFormats() []Format {
	return []Format{FormatDynamoFrontend, FormatDynamoWorker, FormatHealthz, FormatNativeLink, FormatAMSDAL, FormatStatus}
}

// AllFormats are the HTTP formats followed by grpc.
func AllFormats() []Format { return append(HTTPFormats(), FormatGRPC) }

// Paths returns the liveness and readiness paths of the format. Both are
// empty for grpc, which is probed with grpc.health.v1 on service "".
func (f Format) Paths() (liveness, readiness string) {
	switch f {
	case FormatDynamoFrontend, FormatDynamoWorker:
		return "/live", "/health"
	case FormatHealthz:
		return "/healthz", "/readyz"
	case FormatNativeLink:
		return "/status", "/status"
	case FormatAMSDAL:
		return "/api/probes/liveness/", "/api/probes/readiness/"
	case FormatStatus:
		return "/healthz", "/ready"
	}
	return "", ""
}

// Dialect is the vigil dialect that reads the format's HTTP answers; grpc
// has none (probe it with kind grpc).
func (f Format) Dialect() upstreams.Dialect {
	switch f {
	case FormatDynamoFrontend, FormatDynamoWorker:
		return upstreams.DialectDynamo
	case FormatHealthz:
		return upstreams.DialectHealthz
	case FormatNativeLink:
		return upstreams.DialectNativeLink
	case FormatAMSDAL:
		return upstreams.DialectAMSDAL
	case FormatStatus:
		return upstreams.DialectStatus
	}
	return ""
}

func (f Format) valid() bool {
	for _, g := range AllFormats() {
		if f == g {
			return true
		}
	}
	return false
}

// ParseFormats reads a comma-separated list of formats. "" and "mix" mean all
// HTTP formats; "all" adds grpc.
func ParseFormats(s string) ([]Format, error) {
	switch strings.TrimSpace(s) {
	case "", "mix":
		return HTTPFormats(), nil
	case "all":
		return AllFormats(), nil
	}
	var out []Format
	for _, part := range strings.Split(s, ",") {
		f := Format(strings.TrimSpace(part))
		if !f.valid() {
			return nil, fmt.Errorf("fleet: unknown format %q (want one of %v, mix or all)", part, AllFormats())
		}
		out = append(out, f)
	}
	return out, nil
}

// State is what an instance currently does when probed.
type State string

// States an instance can be in.
const (
	// StateReady passes liveness and readiness.
	StateReady State = "ready"
	// StateNotReady passes liveness and fails readiness in the format's own way.
	StateNotReady State = "notready"
	// StateDraining fails readiness; healthz reports "draining":true, the
	// other formats answer 503 with x-envoy-immediate-health-check-fail: true.
	StateDraining State = "draining"
	// StateDegraded is a NativeLink Warning component; other formats answer as ready.
	StateDegraded State = "degraded"
	// StateDead closes the listener and all connections: connection refused.
	StateDead State = "dead"
	// StateSlow answers as ready, but only after Spec.SlowDelay.
	StateSlow State = "slow"
)

// States lists every state.
func States() []State {
	return []State{StateReady, StateNotReady, StateDraining, StateDegraded, StateDead, StateSlow}
}

// ParseState validates a state name.
func ParseState(s string) (State, error) {
	for _, st := range States() {
		if State(s) == st {
			return st, nil
		}
	}
	return "", fmt.Errorf("fleet: unknown state %q (want one of %v)", s, States())
}

// Instance describes one simulated instance.
type Instance struct {
	ID            string `json:"id"`
	Address       string `json:"address"` // host:port of the instance's own listener
	Format        Format `json:"format"`
	State         State  `json:"state"`
	LivenessPath  string `json:"liveness_path,omitempty"`
	ReadinessPath string `json:"readiness_path,omitempty"`
}

// Flip is one recorded state change.
type Flip struct {
	ID   string    `json:"id"`
	From State     `json:"from"`
	To   State     `json:"to"`
	Time time.Time `json:"time"` // taken just before the change became observable
}

// Spec configures a fleet.
type Spec struct {
	// N is the number of instances.
	N int
	// Formats are assigned round-robin; empty means HTTPFormats().
	Formats []Format
	// Host is the first IP address (default 127.0.0.1). It must be in 127.0.0.0/8.
	Host string
	// PerHost instances share one IP address before the next address is used
	// (default 1000): instance i listens on Host+i/PerHost.
	PerHost int
	// Port is the first port on every address: instance i gets Port+i%PerHost.
	// 0 lets the OS pick a free port per instance (use it in tests).
	Port int
	// IDPrefix prefixes instance IDs (default "inst-"): ID = IDPrefix + index.
	// Processes whose instances are combined need distinct prefixes.
	IDPrefix string
	// Initial is every instance's first state (default ready).
	Initial State
	// SlowDelay is how long slow instances wait before answering (default 3s).
	SlowDelay time.Duration
	// Logger receives structured logs (default: discarded).
	Logger *slog.Logger
}

func (s Spec) withDefaults() (Spec, error) {
	if s.N < 0 {
		return s, fmt.Errorf("fleet: N must not be negative, got %d", s.N)
	}
	if len(s.Formats) == 0 {
		s.Formats = HTTPFormats()
	}
	for _, f := range s.Formats {
		if !f.valid() {
			return s, fmt.Errorf("fleet: unknown format %q", f)
		}
	}
	if s.Host == "" {
		s.Host = "127.0.0.1"
	}
	if s.PerHost <= 0 {
		s.PerHost = 1000
	}
	if s.Port < 0 || s.Port > 65535 {
		return s, fmt.Errorf("fleet: port %d out of range", s.Port)
	}
	if s.Port > 0 && s.Port+min(s.PerHost, s.N)-1 > 65535 {
		return s, fmt.Errorf("fleet: ports from %d overflow 65535 with %d instances per host", s.Port, min(s.PerHost, s.N))
	}
	if s.IDPrefix == "" {
		s.IDPrefix = "inst-"
	}
	if s.Initial == "" {
		s.Initial = StateReady
	}
	if _, err := ParseState(string(s.Initial)); err != nil {
		return s, err
	}
	if s.SlowDelay <= 0 {
		s.SlowDelay = 3 * time.Second
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	return s, nil
}
