package config_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/vigilhq/vigil/aggregator/dialect"
	"github.com/vigilhq/vigil/config"
)

// The documented example must load cleanly, with its CEL expressions
// compiled by the real cel dialect, and mean what its comments say.
func TestExampleConfigLoads(t *testing.T) {
	c, err := config.Load("../examples/vigil.yaml", dialect.ConfigOption())
	if err != nil {
		t.Fatalf("examples/vigil.yaml:\n%v", err)
	}
	if c.Consul == nil || c.Consul.Node != "vigil-external" || c.Consul.BatchWindow != 200*time.Millisecond {
		t.Errorf("consul = %+v", c.Consul)
	}
	if c.StateDir != "./vigil-state" || c.Defaults.UnhealthyInterval != 10*time.Second {
		t.Errorf("state_dir %q, defaults.unhealthy_interval %v", c.StateDir, c.Defaults.UnhealthyInterval)
	}
	if !*c.FailSafe.Enabled || c.FailSafe.GlobalFailurePercent != 60 || c.FailSafe.MinClusters != 2 {
		t.Errorf("fail_safe = %+v", c.FailSafe)
	}
	if c.Clusters[0].MaxEjectionPercent != 50 || c.Clusters[1].MaxEjectionPercent != 100 {
		t.Errorf("max_ejection_percent: %d, %d", c.Clusters[0].MaxEjectionPercent, c.Clusters[1].MaxEjectionPercent)
	}
	names := []string{}
	for _, cl := range c.Clusters {
		names = append(names, cl.Name)
	}
	if want := []string{"dynamo-workers", "build-cache", "api-grpc", "secure-api", "web"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("clusters = %v, want %v", names, want)
	}
	w := c.Clusters[0]
	if w.Readiness.Interval != 2*time.Second || w.Readiness.Timeout != 500*time.Millisecond ||
		w.Readiness.Dialect != "dynamo" || w.Liveness.Timeout != time.Second {
		t.Errorf("dynamo-workers probes: readiness %+v liveness %+v", w.Readiness.ProbeSettings, w.Liveness.ProbeSettings)
	}
	if !reflect.DeepEqual(w.Readiness.ExpectedStatuses, config.StatusList{"200-299", "503"}) {
		t.Errorf("readiness statuses = %q", w.Readiness.ExpectedStatuses)
	}
	if len(w.Instances) != 2 || len(w.FileInstances) != 2 || w.FileInstances[1].Weight != 3 {
		t.Errorf("instances %+v, file instances %+v", w.Instances, w.FileInstances)
	}
	if cel := c.Clusters[1].Readiness.CEL; cel == nil || cel.Pass == "" || cel.Drain == "" || cel.Degraded == "" {
		t.Errorf("build-cache cel = %+v", cel)
	}
	if g := c.Clusters[2]; g.Readiness.Kind != "grpc" || g.Liveness.Kind != "tcp" || g.Liveness.Interval != 10*time.Second {
		t.Errorf("api-grpc probes: %+v / %+v", g.Readiness, g.Liveness)
	}
	if tls := c.Clusters[3].Readiness.TLS; tls == nil || tls.ServerName != "api.internal" {
		t.Errorf("secure-api tls = %v", tls)
	}
	if d := c.Clusters[4].Discovery; d == nil || d.Consul.Service != "web" || d.Consul.HealthPortMeta != "vigil_health_port" {
		t.Errorf("web discovery = %+v", d)
	}
}

func TestExpressionCheckReportsAtTheExpressionLine(t *testing.T) {
	src := withCluster(`    readiness:
      dialect: cel
      cel:
        pass: status == 200
        drain: body.draining ==
        degraded: "1 + 1"
`)
	lines := problems(t, src, dialect.ConfigOption())
	if len(lines) != 2 {
		t.Fatalf("got %d problems, want 2:\n%s", len(lines), join(lines))
	}
	prefixes := []string{
		"vigil.yaml:7: clusters[0].readiness.cel.drain: does not compile: ",
		"vigil.yaml:8: clusters[0].readiness.cel.degraded: does not compile: ",
	}
	for i, p := range prefixes {
		if len(lines[i]) <= len(p) || lines[i][:len(p)] != p {
			t.Errorf("problem %d = %q, want prefix %q", i, lines[i], p)
		}
	}
	if want := "expression yields int, want bool"; !contains(lines[1], want) {
		t.Errorf("degraded problem %q does not say %q", lines[1], want)
	}
	// Without a checker the expressions are not compiled.
	mustParse(t, src)
}
