package config

import (
	"math"
	"sort"
	"strings"
	"time"
)

// level is one step of the inheritance chain defaults -> cluster -> probe.
type level struct {
	prefix string
	s      *ProbeSettings
}

// finishProbe validates what the probe itself says, resolves everything it
// inherits and writes the resolved values into p.
func (c *Config) finishProbe(col *collector, o *options, base string, p *Probe, cl *Cluster) {
	f := func(key string) string { return base + "." + key }
	validateSettings(col, base, &p.ProbeSettings)
	c.loadTLS(col, f("tls"), p.TLS)

	if p.Kind == "" {
		p.Kind = DefaultKind
	} else if !oneOf(p.Kind, probeKinds) {
		col.at(f("kind"), "%s", enumMsg(p.Kind, probeKinds))
	}
	http := p.Kind == "http"
	if p.Port < 0 || p.Port > 65535 {
		col.at(f("port"), "must be between 1 and 65535 (0 or absent: the instance's port)")
	}
	if !http {
		// Settings that only mean something to HTTP probes.
		for _, x := range []struct {
			key   string
			given bool
		}{
			{"path", p.Path != ""}, {"scheme", p.Scheme != ""}, {"host", p.Host != ""},
			{"headers", p.Headers != nil}, {"dialect", p.Dialect != ""}, {"cel", p.CEL != nil},
			{"expected_statuses", p.ExpectedStatuses != nil}, {"max_body_bytes", p.MaxBodyBytes != 0},
			{"tls", p.TLS != nil},
		} {
			if x.given || col.set(f(x.key)) {
				col.at(f(x.key), "only used by http probes (this probe's kind is %s)", p.Kind)
			}
		}
	}
	if p.GRPCService != "" && p.Kind != "grpc" {
		col.at(f("grpc_service"), "only used by grpc probes (this probe's kind is %s)", p.Kind)
	}
	if http {
		c.finishHTTPProbe(col, o, base, p, cl)
	}
	c.resolveSettings(col, base, p, cl)
}

func (c *Config) finishHTTPProbe(col *collector, o *options, base string, p *Probe, cl *Cluster) {
	f := func(key string) string { return base + "." + key }
	if p.Path == "" {
		p.Path = DefaultPath
	} else if !strings.HasPrefix(p.Path, "/") {
		col.at(f("path"), "%q must start with /", p.Path)
	}
	if p.Scheme == "" {
		p.Scheme = DefaultScheme
	} else if !oneOf(p.Scheme, schemes) {
		col.at(f("scheme"), "%s", enumMsg(p.Scheme, schemes))
	}
	tlsOnlyForHTTPS(col, f("tls"), p)
	if strings.ContainsAny(p.Host, " \t\r\n/") {
		col.at(f("host"), "%q is not a valid Host header", p.Host)
	}
	keys := make([]string, 0, len(p.Headers))
	for k := range p.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !validHeaderName(k) {
			col.at(f("headers."+k), "%q is not a valid header name", k)
		} else if strings.ContainsAny(p.Headers[k], "\r\n") {
			col.at(f("headers."+k), "header values must not contain line breaks")
		}
	}

	if p.Dialect == "" {
		if o.knownDialect(cl.Dialect) {
			p.Dialect = cl.Dialect
		}
	} else if !o.knownDialect(p.Dialect) {
		col.at(f("dialect"), "%s", o.dialectProblem(p.Dialect))
	}
	switch {
	case p.Dialect == "cel" && (p.CEL == nil || p.CEL.Pass == ""):
		col.at(f("cel.pass"), "required when the dialect is cel")
	case p.Dialect != "cel" && p.CEL != nil:
		col.at(f("cel"), "only used with dialect cel (this probe's dialect is %s)", p.Dialect)
	}
	if p.CEL != nil && o.checkExpr != nil {
		for _, x := range [][2]string{{"pass", p.CEL.Pass}, {"drain", p.CEL.Drain}, {"degraded", p.CEL.Degraded}} {
			if strings.TrimSpace(x[1]) == "" {
				continue
			}
			if err := o.checkExpr(x[1]); err != nil {
				col.at(f("cel."+x[0]), "does not compile: %s", oneLine(err.Error()))
			}
		}
	}
}

// resolveSettings fills p's timing, thresholds and response limits from the
// first level that gives a valid value, then checks how they combine.
func (c *Config) resolveSettings(col *collector, base string, p *Probe, cl *Cluster) {
	clusterBase := strings.TrimSuffix(strings.TrimSuffix(base, ".liveness"), ".readiness")
	levels := []level{{base, &p.ProbeSettings}, {clusterBase, &cl.ProbeSettings}, {"defaults", &c.Defaults.ProbeSettings}}

	// dur returns the value and the level it came from; a defaults value
	// that was not written in the file counts as built in.
	dur := func(key string, get func(*ProbeSettings) time.Duration, builtin time.Duration) (time.Duration, int) {
		for i, l := range levels {
			if v := get(l.s); v > 0 {
				if i == len(levels)-1 && c.parsed && !col.set("defaults."+key) {
					return v, len(levels)
				}
				return v, i
			}
		}
		return builtin, len(levels) // the built-in default: outermost of all
	}
	prefix := func(i int) string {
		if i >= len(levels) {
			return "defaults"
		}
		return levels[i].prefix
	}
	count := func(get func(*ProbeSettings) int, builtin, lo, hi int) int {
		for _, l := range levels {
			if v := get(l.s); v >= lo && v <= hi && v != 0 {
				return v
			}
		}
		return builtin
	}

	interval, iLevel := dur("interval", func(s *ProbeSettings) time.Duration { return s.Interval }, DefaultInterval)
	timeout, tLevel := dur("timeout", func(s *ProbeSettings) time.Duration { return s.Timeout }, DefaultTimeout)
	unhealthy, uLevel := dur("unhealthy_interval", func(s *ProbeSettings) time.Duration { return s.UnhealthyInterval }, 0)
	if unhealthy == 0 {
		unhealthy, uLevel = interval, -1
	}
	jitter := DefaultJitterPercent
	for _, l := range levels {
		if j := l.s.JitterPercent; j != nil && *j >= 0 && *j <= 100 {
			jitter = *j
			break
		}
	}
	statuses := StatusList{DefaultExpectedStatuses}
	for _, l := range levels {
		if statusesValid(l.s.ExpectedStatuses) {
			statuses = l.s.ExpectedStatuses
			break
		}
	}

	// A timeout longer than the interval would overlap probes. Report it
	// where the inner (more specific) of the two values is written.
	pairs := []struct {
		name    string
		val     time.Duration
		level   int
		written bool
	}{{"interval", interval, iLevel, true}, {"unhealthy_interval", unhealthy, uLevel, uLevel >= 0}}
	for _, pr := range pairs {
		if !pr.written || timeout <= pr.val {
			continue
		}
		if tLevel <= pr.level {
			col.at(prefix(tLevel)+".timeout", "must not be longer than %s (%s)", pr.name, pr.val)
		} else {
			col.at(prefix(pr.level)+"."+pr.name, "must not be shorter than timeout (%s)", timeout)
		}
	}

	p.Interval = interval
	p.Timeout = timeout
	p.UnhealthyInterval = unhealthy
	p.JitterPercent = Ptr(jitter)
	p.HealthyThreshold = count(func(s *ProbeSettings) int { return s.HealthyThreshold }, DefaultHealthyThreshold, 1, math.MaxInt32)
	p.UnhealthyThreshold = count(func(s *ProbeSettings) int { return s.UnhealthyThreshold }, DefaultUnhealthyThreshold, 1, math.MaxInt32)
	// Body and status settings mean something only to http probes; leaving
	// them empty elsewhere keeps Finish idempotent.
	resolveTLS(p, levels)
	if p.Kind == DefaultKind {
		p.MaxBodyBytes = count(func(s *ProbeSettings) int { return s.MaxBodyBytes }, DefaultMaxBodyBytes, 1, MaxMaxBodyBytes)
		p.ExpectedStatuses = append(StatusList(nil), statuses...)
	}
}

// validHeaderName reports whether s is an HTTP header field name (token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// oneLine folds a multi-line message (such as a CEL compile error with its
// source excerpt) into one line, dropping excerpt lines.
func oneLine(msg string) string {
	var parts []string
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "|") {
			continue
		}
		parts = append(parts, line)
	}
	return strings.Join(parts, "; ")
}
