package config_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/config"
)

func TestDefaultHasEveryDefault(t *testing.T) {
	for name, c := range map[string]*config.Config{
		"Default()":       config.Default(),
		"one cluster":     mustParse(t, oneCluster),
		"comments around": mustParse(t, "# nothing else here\n"+oneCluster+"# but this\n"),
	} {
		t.Run(name, func(t *testing.T) {
			checks := []struct {
				field     string
				got, want any
			}{
				{"admin.listen", c.Admin.Listen, "127.0.0.1:8080"},
				{"admin.token_file", c.Admin.TokenFile, ""},
				{"xds.listen", c.XDS.Listen, "127.0.0.1:18000"},
				{"xds.grpc_listeners", *c.XDS.GRPCListeners, true},
				{"state_dir", c.StateDir, ""},
				{"drain_period", c.DrainPeriod, 5 * time.Second},
				{"restore_max_age", c.RestoreMaxAge, 10 * time.Minute},
				{"max_concurrency", c.MaxConcurrency, 1024},
				{"event_history", c.EventHistory, 10000},
				{"consul", c.Consul, (*config.Consul)(nil)},
				{"fail_safe.enabled", *c.FailSafe.Enabled, true},
				{"fail_safe.global_failure_percent", c.FailSafe.GlobalFailurePercent, 60},
				{"fail_safe.min_clusters", c.FailSafe.MinClusters, 2},
				{"defaults.max_ejection_percent", c.Defaults.MaxEjectionPercent, 100},
				{"defaults.interval", c.Defaults.Interval, 5 * time.Second},
				{"defaults.unhealthy_interval", c.Defaults.UnhealthyInterval, time.Duration(0)},
				{"defaults.timeout", c.Defaults.Timeout, time.Second},
				{"defaults.jitter_percent", *c.Defaults.JitterPercent, 10},
				{"defaults.healthy_threshold", c.Defaults.HealthyThreshold, 2},
				{"defaults.unhealthy_threshold", c.Defaults.UnhealthyThreshold, 3},
				{"defaults.initial_status", c.Defaults.InitialStatus, "unhealthy"},
				{"defaults.max_body_bytes", c.Defaults.MaxBodyBytes, 65536},
				{"defaults.expected_statuses", c.Defaults.ExpectedStatuses, config.StatusList{"200-299"}},
			}
			for _, ch := range checks {
				if !reflect.DeepEqual(ch.got, ch.want) {
					t.Errorf("%s = %v, want %v", ch.field, ch.got, ch.want)
				}
			}
		})
	}
}

func TestMaxEjectionPercentInheritsFromDefaults(t *testing.T) {
	c := mustParse(t, "defaults: {max_ejection_percent: 40}\nclusters:\n"+
		"  - {name: a, readiness: {}}\n  - {name: b, max_ejection_percent: 50, readiness: {}}\n")
	if a, b := c.Clusters[0].MaxEjectionPercent, c.Clusters[1].MaxEjectionPercent; a != 40 || b != 50 {
		t.Errorf("max_ejection_percent: a %d (want 40, inherited), b %d (want 50)", a, b)
	}
	c = mustParse(t, "fail_safe: {enabled: false}\n")
	if *c.FailSafe.Enabled || c.FailSafe.GlobalFailurePercent != 60 || c.FailSafe.MinClusters != 2 {
		t.Errorf("fail_safe = %+v", c.FailSafe)
	}
}

func TestConsulDefaults(t *testing.T) {
	c := mustParse(t, "consul:\n  address: 127.0.0.1:8500\n")
	k := c.Consul
	if k.Deployment != "vigil" || k.Node != "vigil-vigil" || k.BatchWindow != 200*time.Millisecond ||
		k.OutputUpdateInterval != 30*time.Second || k.ResyncInterval != 60*time.Second {
		t.Errorf("consul defaults: %+v", *k)
	}
	mustParse(t, "consul:\n  address: http://127.0.0.1:8500\n")
	c = mustParse(t, "consul:\n  address: 127.0.0.1:8500\n  deployment: blue\n")
	if c.Consul.Node != "vigil-blue" {
		t.Errorf("node = %q, want vigil-blue (derived from deployment)", c.Consul.Node)
	}
}

func TestClusterProbeAndInstanceDefaults(t *testing.T) {
	c := mustParse(t, withCluster("    readiness: {}\n    instances:\n      - address: 127.0.0.1:80\n"))
	cl := c.Clusters[0]
	p := cl.Readiness
	checks := []struct {
		field     string
		got, want any
	}{
		{"dialect", cl.Dialect, "auto"},
		{"initial_status", cl.InitialStatus, "unhealthy"},
		{"liveness", cl.Liveness, (*config.Probe)(nil)},
		{"eds_service_name", cl.EDSServiceName, "c"},
		{"lb_policy", cl.LBPolicy, "ROUND_ROBIN"},
		{"connect_timeout", cl.ConnectTimeout, time.Second},
		{"healthy_panic_threshold", cl.HealthyPanicThreshold, (*float64)(nil)},
		{"max_ejection_percent", cl.MaxEjectionPercent, 100},
		{"consul_service", cl.ConsulService, "c"},
		{"discovery", cl.Discovery, (*config.Discovery)(nil)},
		{"readiness.kind", p.Kind, "http"},
		{"readiness.path", p.Path, "/"},
		{"readiness.port", p.Port, 0},
		{"readiness.scheme", p.Scheme, "http"},
		{"readiness.host", p.Host, ""},
		{"readiness.dialect", p.Dialect, "auto"},
		{"readiness.cel", p.CEL, (*config.CEL)(nil)},
		{"readiness.interval", p.Interval, 5 * time.Second},
		{"readiness.unhealthy_interval", p.UnhealthyInterval, 5 * time.Second},
		{"readiness.timeout", p.Timeout, time.Second},
		{"readiness.jitter_percent", *p.JitterPercent, 10},
		{"readiness.healthy_threshold", p.HealthyThreshold, 2},
		{"readiness.unhealthy_threshold", p.UnhealthyThreshold, 3},
		{"readiness.max_body_bytes", p.MaxBodyBytes, 65536},
		{"readiness.expected_statuses", p.ExpectedStatuses, config.StatusList{"200-299"}},
		{"instances[0].id", cl.Instances[0].ID, "127.0.0.1:80"},
		{"instances[0].weight", cl.Instances[0].Weight, uint32(1)},
		{"instances[0].priority", cl.Instances[0].Priority, uint32(0)},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %v, want %v", ch.field, ch.got, ch.want)
		}
	}
}

func TestNonHTTPProbesLeaveHTTPFieldsEmpty(t *testing.T) {
	c := mustParse(t, withCluster("    dialect: dynamo\n    liveness: {kind: tcp}\n    readiness: {kind: grpc, grpc_service: a.B}\n"))
	for _, p := range []*config.Probe{c.Clusters[0].Liveness, c.Clusters[0].Readiness} {
		if p.Path != "" || p.Scheme != "" || p.Dialect != "" {
			t.Errorf("%s probe: path %q scheme %q dialect %q, want all empty", p.Kind, p.Path, p.Scheme, p.Dialect)
		}
		if p.Interval != 5*time.Second || p.Timeout != time.Second {
			t.Errorf("%s probe timing not resolved: %+v", p.Kind, p.ProbeSettings)
		}
	}
	if c.Clusters[0].Readiness.GRPCService != "a.B" {
		t.Errorf("grpc_service = %q", c.Clusters[0].Readiness.GRPCService)
	}
}

// TestInheritance sets one field at some of the levels defaults -> cluster
// -> probe and checks the probe ends up with the innermost value given.
func TestInheritance(t *testing.T) {
	fields := []struct {
		key     string
		values  [3]string // defaults, cluster, probe
		builtin string
		get     func(*config.Probe) string
	}{
		{"interval", [3]string{"4s", "3s", "2s"}, "5s", func(p *config.Probe) string { return p.Interval.String() }},
		{"timeout", [3]string{"900ms", "800ms", "700ms"}, "1s", func(p *config.Probe) string { return p.Timeout.String() }},
		{"unhealthy_interval", [3]string{"40s", "30s", "20s"}, "5s", func(p *config.Probe) string { return p.UnhealthyInterval.String() }},
		{"jitter_percent", [3]string{"0", "30", "40"}, "10", func(p *config.Probe) string { return fmt.Sprint(*p.JitterPercent) }},
		{"healthy_threshold", [3]string{"4", "5", "6"}, "2", func(p *config.Probe) string { return fmt.Sprint(p.HealthyThreshold) }},
		{"unhealthy_threshold", [3]string{"7", "8", "9"}, "3", func(p *config.Probe) string { return fmt.Sprint(p.UnhealthyThreshold) }},
		{"max_body_bytes", [3]string{"100", "200", "300"}, "65536", func(p *config.Probe) string { return fmt.Sprint(p.MaxBodyBytes) }},
		{"expected_statuses", [3]string{"[200]", "\"204,301-302\"", "[404, 500-599]"}, "[200-299]",
			func(p *config.Probe) string { return "[" + strings.Join(p.ExpectedStatuses, ", ") + "]" }},
	}
	want := map[string]string{ // how each given value reads back
		`"204,301-302"`: "[204, 301-302]",
	}
	combos := [][3]bool{
		{false, false, false}, {true, false, false}, {false, true, false}, {false, false, true},
		{true, true, false}, {true, false, true}, {false, true, true}, {true, true, true},
	}
	for _, f := range fields {
		for _, combo := range combos {
			name := fmt.Sprintf("%s/defaults=%v,cluster=%v,probe=%v", f.key, combo[0], combo[1], combo[2])
			t.Run(name, func(t *testing.T) {
				var src strings.Builder
				if combo[0] {
					fmt.Fprintf(&src, "defaults:\n  %s: %s\n", f.key, f.values[0])
				}
				src.WriteString("clusters:\n  - name: c\n")
				if combo[1] {
					fmt.Fprintf(&src, "    %s: %s\n", f.key, f.values[1])
				}
				src.WriteString("    readiness:\n      path: /r\n")
				if combo[2] {
					fmt.Fprintf(&src, "      %s: %s\n", f.key, f.values[2])
				}
				src.WriteString("    liveness:\n      path: /l\n")
				c := mustParse(t, src.String())
				expect := f.builtin
				for i := 2; i >= 0; i-- {
					if combo[i] {
						expect = f.values[i]
						break
					}
				}
				if w, ok := want[expect]; ok {
					expect = w
				}
				if got := f.get(c.Clusters[0].Readiness); got != expect {
					t.Errorf("readiness %s = %s, want %s\n%s", f.key, got, expect, src.String())
				}
				// The sibling probe sets nothing itself: it sees the
				// cluster or defaults value.
				expect = f.builtin
				for i := 1; i >= 0; i-- {
					if combo[i] {
						expect = f.values[i]
						break
					}
				}
				if w, ok := want[expect]; ok {
					expect = w
				}
				if got := f.get(c.Clusters[0].Liveness); got != expect {
					t.Errorf("liveness %s = %s, want %s", f.key, got, expect)
				}
			})
		}
	}
}

func TestUnhealthyIntervalDefaultsToTheProbesOwnInterval(t *testing.T) {
	c := mustParse(t, withCluster("    interval: 3s\n    readiness: {interval: 2s}\n    liveness: {}\n"))
	if got := c.Clusters[0].Readiness.UnhealthyInterval; got != 2*time.Second {
		t.Errorf("readiness unhealthy_interval = %v, want 2s (its own interval)", got)
	}
	if got := c.Clusters[0].Liveness.UnhealthyInterval; got != 3*time.Second {
		t.Errorf("liveness unhealthy_interval = %v, want 3s (the cluster interval)", got)
	}
}

func TestDialectAndInitialStatusInheritance(t *testing.T) {
	src := `defaults:
  initial_status: healthy
clusters:
  - name: a
    dialect: healthz
    readiness: {}
    liveness: {dialect: status}
  - name: b
    initial_status: unknown
    readiness: {}
`
	c := mustParse(t, src)
	a, b := c.Clusters[0], c.Clusters[1]
	if a.Readiness.Dialect != "healthz" || a.Liveness.Dialect != "status" || b.Readiness.Dialect != "auto" {
		t.Errorf("dialects: a.readiness %q a.liveness %q b.readiness %q", a.Readiness.Dialect, a.Liveness.Dialect, b.Readiness.Dialect)
	}
	if a.InitialStatus != "healthy" || b.InitialStatus != "unknown" {
		t.Errorf("initial statuses: a %q b %q", a.InitialStatus, b.InitialStatus)
	}
}

func TestExplicitZeroesThatAreValid(t *testing.T) {
	c := mustParse(t, "drain_period: 0s\nrestore_max_age: 0s\ndefaults:\n  jitter_percent: 0\n"+
		"clusters:\n  - name: c\n    healthy_panic_threshold: 0\n    readiness: {port: 0}\n    instances:\n      - {address: 127.0.0.1:80, priority: 0}\n")
	if c.DrainPeriod != 0 {
		t.Errorf("drain_period = %v, want 0 (written explicitly)", c.DrainPeriod)
	}
	if c.RestoreMaxAge != 0 {
		t.Errorf("restore_max_age = %v, want 0 (written explicitly)", c.RestoreMaxAge)
	}
	if *c.Clusters[0].Readiness.JitterPercent != 0 {
		t.Errorf("jitter = %d, want 0", *c.Clusters[0].Readiness.JitterPercent)
	}
	if p := c.Clusters[0].HealthyPanicThreshold; p == nil || *p != 0 {
		t.Errorf("healthy_panic_threshold = %v, want 0", p)
	}
}

func TestValueForms(t *testing.T) {
	src := withCluster(`    lb_policy: ring_hash
    healthy_panic_threshold: 12.5
    readiness:
      expected_statuses: 204
      headers: {X-A: 1, X-B: "two"}
    liveness:
      expected_statuses: ["200-204", 301, "302,304"]
    instances:
      - address: "[::1]:8080"
        meta: {n: 3, empty: ~}
      - address: worker-1.example.internal:80
`)
	c := mustParse(t, src)
	cl := c.Clusters[0]
	if cl.LBPolicy != "RING_HASH" {
		t.Errorf("lb_policy = %q, want RING_HASH", cl.LBPolicy)
	}
	if *cl.HealthyPanicThreshold != 12.5 {
		t.Errorf("healthy_panic_threshold = %v", *cl.HealthyPanicThreshold)
	}
	if got := cl.Readiness.ExpectedStatuses; !reflect.DeepEqual(got, config.StatusList{"204"}) {
		t.Errorf("readiness statuses = %q", got)
	}
	if got := cl.Liveness.ExpectedStatuses; !reflect.DeepEqual(got, config.StatusList{"200-204", "301", "302", "304"}) {
		t.Errorf("liveness statuses = %q", got)
	}
	if got := cl.Readiness.Headers; !reflect.DeepEqual(got, map[string]string{"X-A": "1", "X-B": "two"}) {
		t.Errorf("headers = %v", got)
	}
	if got := cl.Instances[0].Meta; !reflect.DeepEqual(got, map[string]string{"n": "3", "empty": ""}) {
		t.Errorf("meta = %v", got)
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	src := `clusters:
  - name: a
    readiness: &probe
      path: /ready
      port: 9090
      timeout: 300ms
    liveness:
      <<: *probe
      path: /live
  - name: b
    readiness: *probe
`
	c := mustParse(t, src)
	l := c.Clusters[0].Liveness
	if l.Path != "/live" || l.Port != 9090 || l.Timeout != 300*time.Millisecond {
		t.Errorf("merged liveness = path %q port %d timeout %v", l.Path, l.Port, l.Timeout)
	}
	if r := c.Clusters[1].Readiness; r.Path != "/ready" || r.Port != 9090 {
		t.Errorf("aliased readiness = path %q port %d", r.Path, r.Port)
	}
}
