package config

import "time"

// Config is vigil's whole configuration. Zero values mean "use the default";
// a value written explicitly in a file is validated as written (so a literal
// `interval: 0s` is an error rather than a silent default).
type Config struct {
	Admin          Admin         `yaml:"admin"`
	XDS            XDS           `yaml:"xds"`
	StateDir       string        `yaml:"state_dir"`       // "": the caller picks a default location
	DrainPeriod    time.Duration `yaml:"drain_period"`    // [5s]; 0s written in a file means no drain
	RestoreMaxAge  time.Duration `yaml:"restore_max_age"` // [10m] oldest verdicts a restart publishes; 0s: none
	MaxConcurrency int           `yaml:"max_concurrency"` // [1024] blocking probes at once (dials, TLS, gRPC, TCP)
	EventHistory   int           `yaml:"event_history"`   // [10000] transitions kept for the API
	Consul         *Consul       `yaml:"consul"`          // nil: Consul publishing off
	FailSafe       FailSafe      `yaml:"fail_safe"`       // when vigil suspects its own network
	Replicas       *Replicas     `yaml:"replicas"`        // nil or enabled: false: one vigil
	Defaults       Defaults      `yaml:"defaults"`
	Clusters       []Cluster     `yaml:"clusters"`

	// File is the name the configuration was read from; errors are reported
	// against it. Load and Parse set it.
	File string `yaml:"-"`
	// Dir is the directory relative paths (instances_file) are resolved
	// against; "" is the working directory. Load and Parse set it to the
	// directory of the configuration file.
	Dir string `yaml:"-"`

	pos    map[string]position // where each field path was written; nil for Go-built configs
	parsed bool                // read from YAML (not built in Go)
}

// Admin is the ops API listener.
type Admin struct {
	Listen    string `yaml:"listen"`     // [127.0.0.1:8080]
	TokenFile string `yaml:"token_file"` // bearer token for mutating admin calls
}

// XDS is the Envoy xDS server.
type XDS struct {
	Listen        string `yaml:"listen"`         // [127.0.0.1:18000]
	GRPCListeners *bool  `yaml:"grpc_listeners"` // [true] publish Listener+RouteConfiguration per cluster
}

// Consul turns on publishing into the Consul catalog.
type Consul struct {
	Address              string        `yaml:"address"` // required
	Token                string        `yaml:"token"`
	Datacenter           string        `yaml:"datacenter"`
	Deployment           string        `yaml:"deployment"`             // [vigil] owner marker in node meta
	Node                 string        `yaml:"node"`                   // [vigil-<deployment>]
	BatchWindow          time.Duration `yaml:"batch_window"`           // [200ms]
	OutputUpdateInterval time.Duration `yaml:"output_update_interval"` // [30s]
	ResyncInterval       time.Duration `yaml:"resync_interval"`        // [60s]
}

// FailSafe is when vigil suspects itself: if, within one probe round, a
// large share of all instances across several clusters stop answering at
// connection level, vigil keeps publishing their last statuses (held)
// instead of taking the fleet out of rotation.
type FailSafe struct {
	Enabled              *bool `yaml:"enabled"`                // [true]
	GlobalFailurePercent int   `yaml:"global_failure_percent"` // [60] 1..100 share of all instances
	MinClusters          int   `yaml:"min_clusters"`           // [2] clusters that must each fail that much
}

// ProbeSettings are the probe settings inherited defaults -> cluster -> probe.
// Zero means "inherit".
type ProbeSettings struct {
	Interval           time.Duration `yaml:"interval"`            // [5s]
	UnhealthyInterval  time.Duration `yaml:"unhealthy_interval"`  // [= interval]
	Timeout            time.Duration `yaml:"timeout"`             // [1s] must be <= interval
	JitterPercent      *int          `yaml:"jitter_percent"`      // [10] 0..100
	HealthyThreshold   int           `yaml:"healthy_threshold"`   // [2]
	UnhealthyThreshold int           `yaml:"unhealthy_threshold"` // [3]
	MaxBodyBytes       int           `yaml:"max_body_bytes"`      // [65536] 1..16 MiB
	ExpectedStatuses   StatusList    `yaml:"expected_statuses"`   // [200-299]
	// TLS is how https probes verify servers and authenticate to them. A
	// tls block replaces an inherited one as a whole; probes other than
	// http with scheme https ignore an inherited one.
	TLS *TLS `yaml:"tls"` // [none: the system's roots, no client certificate]
}

// TLS configures an https probe: whom it trusts and, for mutual TLS, the
// certificate it presents. Relative paths resolve against the directory of
// the configuration file. Finish reads and checks the files, so a reload
// reads them again.
type TLS struct {
	CAFile             string `yaml:"ca_file"`              // PEM bundle trusted instead of the system's roots
	CertFile           string `yaml:"cert_file"`            // PEM client certificate (chain), with key_file
	KeyFile            string `yaml:"key_file"`             // PEM private key of cert_file
	ServerName         string `yaml:"server_name"`          // [the target's host] name verified and sent as SNI
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"` // accept any server certificate (testing only)

	// The files' contents as Finish read and checked them: what probes use.
	CAPEM   []byte `yaml:"-"`
	CertPEM []byte `yaml:"-"`
	KeyPEM  []byte `yaml:"-"`
}

// Defaults are inherited by every cluster and probe.
type Defaults struct {
	ProbeSettings `yaml:",inline"`
	InitialStatus string `yaml:"initial_status"` // [unhealthy] unhealthy|unknown|healthy
	// MaxEjectionPercent caps the share of a cluster's instances out of
	// rotation for failed probes at once; beyond it, instances are held.
	MaxEjectionPercent int `yaml:"max_ejection_percent"` // [100] 1..100
}

// Cluster is a named group of instances probed the same way.
type Cluster struct {
	Name          string `yaml:"name"`           // required, [a-zA-Z0-9._-]+, unique
	Dialect       string `yaml:"dialect"`        // [auto] inherited by probes
	InitialStatus string `yaml:"initial_status"` // [defaults.initial_status]
	// MaxEjectionPercent: see Defaults.
	MaxEjectionPercent int `yaml:"max_ejection_percent"` // [defaults.max_ejection_percent]
	// ProbeSettings override defaults for this cluster's probes. Finish
	// leaves them as written; the probes carry the resolved values.
	ProbeSettings `yaml:",inline"`

	Liveness  *Probe `yaml:"liveness"` // at least one of liveness/readiness
	Readiness *Probe `yaml:"readiness"`

	Instances     []Instance `yaml:"instances"`
	InstancesFile string     `yaml:"instances_file"` // YAML or JSON list of instances, relative to the config file
	Discovery     *Discovery `yaml:"discovery"`      // instead of instances

	EDSServiceName        string        `yaml:"eds_service_name"`        // [name] unique across clusters
	LBPolicy              string        `yaml:"lb_policy"`               // [ROUND_ROBIN]
	ConnectTimeout        time.Duration `yaml:"connect_timeout"`         // [1s]
	HealthyPanicThreshold *float64      `yaml:"healthy_panic_threshold"` // nil: Envoy's default; 0..100

	ConsulService string            `yaml:"consul_service"` // [name]
	ConsulTags    []string          `yaml:"consul_tags"`
	ConsulMeta    map[string]string `yaml:"consul_meta"`

	// FileInstances are the instances read from InstancesFile by Finish
	// (re-read on every Finish).
	FileInstances []Instance `yaml:"-"`
}

// Probe is a liveness or readiness probe. After Finish every setting is
// resolved: inherited values are copied in and defaults filled. CEL stays nil
// unless written, and the HTTP-only fields (path, scheme, dialect) stay empty
// for grpc and tcp probes.
type Probe struct {
	Kind        string            `yaml:"kind"`   // [http] http|grpc|tcp
	Path        string            `yaml:"path"`   // [/] http only; starts with /
	Port        int               `yaml:"port"`   // 0: the instance's port
	Scheme      string            `yaml:"scheme"` // [http] http|https
	Host        string            `yaml:"host"`   // Host header
	Headers     map[string]string `yaml:"headers"`
	Dialect     string            `yaml:"dialect"` // [cluster's dialect]
	CEL         *CEL              `yaml:"cel"`
	GRPCService string            `yaml:"grpc_service"` // grpc kind only

	ProbeSettings `yaml:",inline"`
}

// CEL are the expressions of the cel dialect.
type CEL struct {
	Pass     string `yaml:"pass"` // required with dialect cel
	Drain    string `yaml:"drain"`
	Degraded string `yaml:"degraded"`
}

// Instance is one member of a cluster.
type Instance struct {
	Address  string            `yaml:"address"` // required host:port
	ID       string            `yaml:"id"`      // [address] unique within the cluster
	Weight   uint32            `yaml:"weight"`  // [1]
	Region   string            `yaml:"region"`
	Zone     string            `yaml:"zone"`
	SubZone  string            `yaml:"sub_zone"`
	Priority uint32            `yaml:"priority"`
	Meta     map[string]string `yaml:"meta"`
}

// Discovery takes a cluster's instances from somewhere other than the config.
type Discovery struct {
	Consul *ConsulDiscovery `yaml:"consul"`
}

// ConsulDiscovery takes a cluster's instances from the Consul catalog.
type ConsulDiscovery struct {
	Service        string `yaml:"service"` // required
	Tag            string `yaml:"tag"`
	HealthPortMeta string `yaml:"health_port_meta"` // service meta key naming the probe port
}

// StatusList is a list of accepted HTTP statuses: each item is a code ("200"),
// an inclusive range ("200-299") or a comma-separated list of those. In YAML
// it is a list of codes and range strings, or a single string such as
// "200-299,301".
type StatusList []string

// Ptr returns a pointer to v; handy for the optional fields of a Config built
// in Go.
func Ptr[T any](v T) *T { return &v }
