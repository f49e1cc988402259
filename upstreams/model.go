package upstreams

import (
	"net"
	"strconv"
	"time"
)

// ProbeKind is how a probe talks to an instance.
type ProbeKind string

// Probe kinds.
const (
	KindHTTP ProbeKind = "http"
	KindGRPC ProbeKind = "grpc" // grpc.health.v1
	KindTCP  ProbeKind = "tcp"
)

// Dialect names how an HTTP response is read.
type Dialect string

// The dialects vigil understands. The list is the registry of package
// aggregator/dialect (which reads each of them); its tests hold these
// constants, and the names config accepts, to that registry.
const (
	DialectAuto       Dialect = "auto"
	DialectStatus     Dialect = "status"
	DialectHealthz    Dialect = "healthz"
	DialectDynamo     Dialect = "dynamo"
	DialectNativeLink Dialect = "nativelink"
	DialectAMSDAL     Dialect = "amsdal"
	DialectCEL        Dialect = "cel"
)

// InitialStatus is what a new instance is published as before its first result.
type InitialStatus string

// Initial statuses.
const (
	InitialUnhealthy InitialStatus = "unhealthy"
	InitialUnknown   InitialStatus = "unknown"
	InitialHealthy   InitialStatus = "healthy"
)

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Lo, Hi int }

// StatusSet is a set of accepted HTTP status codes.
type StatusSet []StatusRange

// Contains reports whether code is in the set.
func (s StatusSet) Contains(code int) bool {
	for _, r := range s {
		if code >= r.Lo && code <= r.Hi {
			return true
		}
	}
	return false
}

// DefaultStatuses is 200-299.
var DefaultStatuses = StatusSet{{200, 299}}

// CELRules are the expressions of the cel dialect. Pass is required.
type CELRules struct {
	Pass     string
	Drain    string
	Degraded string
}

// Timing is the schedule and thresholds of one probe, fully defaulted.
type Timing struct {
	Interval           time.Duration
	UnhealthyInterval  time.Duration
	Timeout            time.Duration
	JitterPercent      int
	HealthyThreshold   int
	UnhealthyThreshold int
}

// Probe is one fully resolved probe of a cluster (liveness or readiness).
type Probe struct {
	Kind             ProbeKind
	Scheme           string // http or https
	Path             string
	Port             int    // 0: the instance's traffic port
	Host             string // Host header; empty: the target's host:port
	Headers          [][2]string
	ExpectedStatuses StatusSet
	MaxBodyBytes     int
	Dialect          Dialect
	CEL              CELRules
	GRPCService      string // service name for grpc.health.v1 (empty: whole server)
	TLS              *TLS   // https only; nil: the system's roots, no client certificate
	Timing
}

// TLS is how an https probe verifies its server and authenticates to it.
// It carries the files' contents as read at load, so a reload that changes
// a file changes the probe (and its instances reconnect with the new
// material) even when the file names stay.
type TLS struct {
	CAFile, CertFile, KeyFile string // where the material came from, for messages
	CAPEM                     []byte // roots trusted instead of the system's; nil: the system's
	CertPEM                   []byte // client certificate chain for mutual TLS; nil: none
	KeyPEM                    Secret // the client certificate's private key
	ServerName                string // verified and sent as SNI; "": the target's host
	InsecureSkipVerify        bool   // accept any server certificate
}

// Secret is key material: its bytes are used, never printed or encoded.
type Secret []byte

// String hides the secret from fmt (also inside structs printed with %v).
func (Secret) String() string { return "[redacted]" }

// GoString hides the secret from %#v.
func (Secret) GoString() string { return "[redacted]" }

// MarshalText hides the secret from encoders (JSON, YAML, slog).
func (Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Instance is one member of a cluster.
type Instance struct {
	ID       string // stable identity; defaults to Address
	Address  string // traffic address, host:port (published)
	Weight   uint32
	Region   string
	Zone     string
	SubZone  string
	Priority uint32
	Meta     map[string]string
	// Source is where the instance came from: "config", "file" or "consul".
	Source string
	// ProbePort, when set, is where every probe of this instance connects,
	// overriding the probes' own port (e.g. from Consul service meta).
	ProbePort int
}

// HostPort splits the traffic address. A malformed address yields port 0.
func (i Instance) HostPort() (string, int) {
	h, p, err := net.SplitHostPort(i.Address)
	if err != nil {
		return i.Address, 0
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

// ProbeAddress is where a probe of this instance connects: the instance's
// host with the instance's ProbePort, else the probe's port, else the
// traffic port.
func (i Instance) ProbeAddress(p *Probe) string {
	h, port := i.HostPort()
	switch {
	case i.ProbePort != 0:
		port = i.ProbePort
	case p != nil && p.Port != 0:
		port = p.Port
	}
	return net.JoinHostPort(h, strconv.Itoa(port))
}

// XDSOptions are the per-cluster settings operators tune for Envoy.
type XDSOptions struct {
	EDSServiceName        string
	LBPolicy              string        // ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH, MAGLEV
	ConnectTimeout        time.Duration // default 1s
	HealthyPanicThreshold *float64      // percent; nil: Envoy's default (50)
}

// ConsulOptions are the per-cluster settings for publishing into Consul.
type ConsulOptions struct {
	Service string
	Tags    []string
	Meta    map[string]string
}

// ConsulDiscovery takes a cluster's instances from the Consul catalog.
type ConsulDiscovery struct {
	Service        string
	Tag            string
	HealthPortMeta string // service meta key naming the probe port
}

// Cluster is a named group of instances probed the same way.
type Cluster struct {
	Name          string
	Liveness      *Probe // nil: no liveness probe
	Readiness     *Probe // nil: no readiness probe
	InitialStatus InitialStatus
	Instances     []Instance
	XDS           XDSOptions
	Consul        ConsulOptions
	Discovery     *ConsulDiscovery // nil: instances come from config
}

// EDSName is the ClusterLoadAssignment name of the cluster.
func (c *Cluster) EDSName() string {
	if c.XDS.EDSServiceName != "" {
		return c.XDS.EDSServiceName
	}
	return c.Name
}

// ConsulServiceName is the Consul service the cluster's instances register as.
func (c *Cluster) ConsulServiceName() string {
	if c.Consul.Service != "" {
		return c.Consul.Service
	}
	return c.Name
}
