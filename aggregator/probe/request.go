package probe

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/vigilhq/vigil/upstreams"
)

// DefaultMaxBodyBytes is the body limit of a probe that names none.
const DefaultMaxBodyBytes = 64 << 10

// userAgent is what every HTTP probe sends unless the probe sets its own.
const userAgent = "vigil/1"

// RequestOptions tune how a prepared request is read.
type RequestOptions struct {
	// CollectHeaders fills Response.Headers (needed by the cel dialect).
	// It costs a map and a string per header on every probe.
	CollectHeaders bool
}

// Request is a probe prepared once per (instance, probe): for HTTP the
// exact request bytes, for gRPC the health request, for TCP nothing. It is
// immutable and may be shared by goroutines.
type Request struct {
	kind           upstreams.ProbeKind
	raw            []byte // HTTP: the full request, written in one call
	path           string
	grpc           *grpc_health_v1.HealthCheckRequest
	maxBody        int
	collectHeaders bool
	polled         bool // see Polled
}

// Polled reports whether probes of p go through the Poller once their
// keep-alive connection is kept: plain HTTP only; TLS, gRPC and TCP probes
// always take the blocking path. It is the one place that decides this:
// the aggregator asks Request.Polled before it hands probes to
// AsyncChecker.Start, and the checker's Start asks it again.
func Polled(p *upstreams.Probe) bool {
	return (p.Kind == upstreams.KindHTTP || p.Kind == "") && p.Scheme != "https"
}

// NewRequest prepares p for the target hostport (host:port, used as the
// Host header when p.Host is empty). It rejects paths and headers that
// would break the request framing (control characters, CR/LF).
func NewRequest(p *upstreams.Probe, hostport string, opts RequestOptions) (*Request, error) {
	if p == nil {
		return nil, errors.New("new request: nil probe")
	}
	r := &Request{
		kind:           p.Kind,
		maxBody:        p.MaxBodyBytes,
		collectHeaders: opts.CollectHeaders,
		polled:         Polled(p),
	}
	if r.kind == "" {
		r.kind = upstreams.KindHTTP
	}
	if r.maxBody <= 0 {
		r.maxBody = DefaultMaxBodyBytes
	}
	switch r.kind {
	case upstreams.KindHTTP:
		raw, err := buildHTTP(p, hostport)
		if err != nil {
			return nil, fmt.Errorf("new request for %s: %w", hostport, err)
		}
		r.raw = raw
		r.path = p.Path
		if r.path == "" {
			r.path = "/"
		}
	case upstreams.KindGRPC:
		r.grpc = &grpc_health_v1.HealthCheckRequest{Service: p.GRPCService}
	case upstreams.KindTCP:
	default:
		return nil, fmt.Errorf("new request for %s: unknown probe kind %q", hostport, p.Kind)
	}
	return r, nil
}

// Kind is the probe kind the request was prepared for.
func (r *Request) Kind() upstreams.ProbeKind { return r.kind }

// Polled reports whether the request goes through the Poller (see Polled).
func (r *Request) Polled() bool { return r.polled }

// Bytes is the exact HTTP request written on the wire (nil for grpc, tcp).
// The caller must not modify it.
func (r *Request) Bytes() []byte { return r.raw }

// MaxBodyBytes is the largest body accepted before the probe fails.
func (r *Request) MaxBodyBytes() int { return r.maxBody }

// CollectHeaders reports whether Response.Headers is filled.
func (r *Request) CollectHeaders() bool { return r.collectHeaders }

// GRPCService is the grpc.health.v1 service name ("" is the whole server).
func (r *Request) GRPCService() string {
	if r.grpc == nil {
		return ""
	}
	return r.grpc.GetService()
}

// String describes the request for logs, e.g. "http GET /healthz".
func (r *Request) String() string {
	switch r.kind {
	case upstreams.KindHTTP:
		return "http GET " + r.path
	case upstreams.KindGRPC:
		return fmt.Sprintf("grpc health %q", r.GRPCService())
	default:
		return string(r.kind)
	}
}

func buildHTTP(p *upstreams.Probe, hostport string) ([]byte, error) {
	path := p.Path
	if path == "" {
		path = "/"
	}
	if path[0] != '/' {
		return nil, fmt.Errorf("path %q must start with /", path)
	}
	for i := 0; i < len(path); i++ {
		if c := path[i]; c <= ' ' || c == 0x7f {
			return nil, fmt.Errorf("path %q contains a space or control character", path)
		}
	}
	host := p.Host
	if host == "" {
		host = hostport
	}
	if host == "" {
		return nil, errors.New("no Host: empty target address")
	}
	if !validValue(host) || strings.ContainsAny(host, " \t") {
		return nil, fmt.Errorf("host %q contains a space or control character", host)
	}
	var setHost, setUA, setAccept bool
	for _, h := range p.Headers {
		name, value := h[0], h[1]
		if !validName(name) {
			return nil, fmt.Errorf("header name %q is not a valid token", name)
		}
		if !validValue(value) {
			return nil, fmt.Errorf("header %s: value contains a control character", name)
		}
		switch strings.ToLower(name) {
		case "host":
			setHost = true
		case "user-agent":
			setUA = true
		case "accept":
			setAccept = true
		case "content-length", "transfer-encoding", "expect", "upgrade":
			return nil, fmt.Errorf("header %s is not allowed on a probe", name)
		}
	}
	var b strings.Builder
	b.WriteString("GET ")
	b.WriteString(path)
	b.WriteString(" HTTP/1.1\r\n")
	if !setHost {
		b.WriteString("Host: " + host + "\r\n")
	}
	if !setUA {
		b.WriteString("User-Agent: " + userAgent + "\r\n")
	}
	if !setAccept {
		b.WriteString("Accept: */*\r\n")
	}
	for _, h := range p.Headers {
		b.WriteString(h[0] + ": " + strings.TrimSpace(h[1]) + "\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String()), nil
}

// validName reports whether s is an HTTP token (RFC 9110 tchar+).
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validValue reports whether s holds no control character other than tab.
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
