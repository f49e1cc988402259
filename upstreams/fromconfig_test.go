package upstreams_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/upstreams"
)

const representative = `consul:
  address: 127.0.0.1:8500
defaults:
  interval: 4s
  timeout: 2s
  initial_status: unknown
clusters:
  - name: workers
    dialect: dynamo
    unhealthy_interval: 8s
    readiness:
      path: /health
      port: 9090
      scheme: https
      host: workers.internal
      headers: {X-B: "2", X-A: "1"}
      expected_statuses: "200-204,503"
      max_body_bytes: 1024
      jitter_percent: 0
    liveness:
      kind: tcp
      interval: 10s
    instances:
      - address: 127.0.0.1:8000
        id: w1
        weight: 7
        region: r
        zone: z
        sub_zone: s
        priority: 2
        meta: {gpu: a100}
      - address: 127.0.0.1:8001
    instances_file: workers.json
    eds_service_name: workers-eds
    lb_policy: maglev
    connect_timeout: 250ms
    healthy_panic_threshold: 30
    max_ejection_percent: 40
    consul_service: workers-svc
    consul_tags: [a, b]
    consul_meta: {team: x}
  - name: rules
    initial_status: healthy
    readiness:
      dialect: cel
      cel: {pass: "status == 200", drain: "false"}
  - name: web
    readiness: {kind: grpc, grpc_service: web.v1.Web}
    discovery:
      consul: {service: web, tag: primary, health_port_meta: hp}
`

func TestFromConfig(t *testing.T) {
	dir := t.TempDir()
	write(t, dir+"/workers.json", `[{"address": "127.0.0.1:8002", "zone": "z2"}]`)
	write(t, dir+"/vigil.yaml", representative)
	cfg, err := config.Load(dir + "/vigil.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := upstreams.FromConfig(cfg)

	timing := func(interval, unhealthy, timeout time.Duration, jitter int) upstreams.Timing {
		return upstreams.Timing{Interval: interval, UnhealthyInterval: unhealthy, Timeout: timeout,
			JitterPercent: jitter, HealthyThreshold: 2, UnhealthyThreshold: 3}
	}
	want := []upstreams.Cluster{
		{
			Name: "workers",
			Readiness: &upstreams.Probe{
				Kind: upstreams.KindHTTP, Scheme: "https", Path: "/health", Port: 9090, Host: "workers.internal",
				Headers:          [][2]string{{"X-A", "1"}, {"X-B", "2"}},
				ExpectedStatuses: upstreams.StatusSet{{200, 204}, {503, 503}},
				MaxBodyBytes:     1024, Dialect: upstreams.DialectDynamo,
				Timing: timing(4*time.Second, 8*time.Second, 2*time.Second, 0),
			},
			Liveness: &upstreams.Probe{
				Kind: upstreams.KindTCP, ExpectedStatuses: upstreams.StatusSet{{200, 299}}, MaxBodyBytes: 0,
				Timing: timing(10*time.Second, 8*time.Second, 2*time.Second, 10),
			},
			InitialStatus:      upstreams.InitialUnknown,
			MaxEjectionPercent: 40,
			Instances: []upstreams.Instance{
				{ID: "w1", Address: "127.0.0.1:8000", Weight: 7, Region: "r", Zone: "z", SubZone: "s", Priority: 2,
					Meta: map[string]string{"gpu": "a100"}, Source: "config"},
				{ID: "127.0.0.1:8001", Address: "127.0.0.1:8001", Weight: 1, Source: "config"},
				{ID: "127.0.0.1:8002", Address: "127.0.0.1:8002", Weight: 1, Zone: "z2", Source: "file"},
			},
			XDS: upstreams.XDSOptions{EDSServiceName: "workers-eds", LBPolicy: "MAGLEV",
				ConnectTimeout: 250 * time.Millisecond, HealthyPanicThreshold: ptr(30.0)},
			Consul: upstreams.ConsulOptions{Service: "workers-svc", Tags: []string{"a", "b"}, Meta: map[string]string{"team": "x"}},
		},
		{
			Name: "rules",
			Readiness: &upstreams.Probe{
				Kind: upstreams.KindHTTP, Scheme: "http", Path: "/",
				ExpectedStatuses: upstreams.StatusSet{{200, 299}}, MaxBodyBytes: 65536,
				Dialect: upstreams.DialectCEL, CEL: upstreams.CELRules{Pass: "status == 200", Drain: "false"},
				Timing: timing(4*time.Second, 4*time.Second, 2*time.Second, 10),
			},
			InitialStatus:      upstreams.InitialHealthy,
			MaxEjectionPercent: 100,
			XDS:                upstreams.XDSOptions{EDSServiceName: "rules", LBPolicy: "ROUND_ROBIN", ConnectTimeout: time.Second},
			Consul:             upstreams.ConsulOptions{Service: "rules"},
		},
		{
			Name: "web",
			Readiness: &upstreams.Probe{
				Kind: upstreams.KindGRPC, GRPCService: "web.v1.Web",
				ExpectedStatuses: upstreams.StatusSet{{200, 299}}, MaxBodyBytes: 0,
				Timing: timing(4*time.Second, 4*time.Second, 2*time.Second, 10),
			},
			InitialStatus:      upstreams.InitialUnknown,
			MaxEjectionPercent: 100,
			XDS:                upstreams.XDSOptions{EDSServiceName: "web", LBPolicy: "ROUND_ROBIN", ConnectTimeout: time.Second},
			Consul:             upstreams.ConsulOptions{Service: "web"},
			Discovery:          &upstreams.ConsulDiscovery{Service: "web", Tag: "primary", HealthPortMeta: "hp"},
		},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d clusters, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("cluster %s:\n got %s\nwant %s", want[i].Name, dump(got[i]), dump(want[i]))
		}
	}
	if got[0].EDSName() != "workers-eds" || got[0].ConsulServiceName() != "workers-svc" {
		t.Errorf("EDSName %q ConsulServiceName %q", got[0].EDSName(), got[0].ConsulServiceName())
	}
	if !got[0].Readiness.ExpectedStatuses.Contains(503) || got[0].Readiness.ExpectedStatuses.Contains(205) {
		t.Errorf("status set %v", got[0].Readiness.ExpectedStatuses)
	}
}

// The result must not share maps or slices with the configuration, so a
// later change to one cannot leak into the other.
func TestFromConfigDoesNotAlias(t *testing.T) {
	cfg := config.Default()
	cfg.Clusters = []config.Cluster{{
		Name:                  "c",
		Readiness:             &config.Probe{Headers: map[string]string{"A": "1"}},
		ConsulTags:            []string{"t"},
		ConsulMeta:            map[string]string{"k": "v"},
		Instances:             []config.Instance{{Address: "127.0.0.1:1", Meta: map[string]string{"m": "1"}}},
		HealthyPanicThreshold: ptr(10.0),
	}}
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	got := upstreams.FromConfig(cfg)[0]
	got.Consul.Tags[0] = "changed"
	got.Consul.Meta["k"] = "changed"
	got.Instances[0].Meta["m"] = "changed"
	*got.XDS.HealthyPanicThreshold = 99
	got.Readiness.ExpectedStatuses[0].Lo = 1
	c := cfg.Clusters[0]
	if c.ConsulTags[0] != "t" || c.ConsulMeta["k"] != "v" || c.Instances[0].Meta["m"] != "1" || *c.HealthyPanicThreshold != 10 ||
		c.Readiness.ExpectedStatuses[0] != "200-299" {
		t.Errorf("changing the result changed the config: %+v", c)
	}
	again := upstreams.FromConfig(cfg)[0]
	if again.Readiness.ExpectedStatuses[0].Lo != 200 {
		t.Errorf("changing one result changed the next: %v", again.Readiness.ExpectedStatuses)
	}
}

func TestFromConfigWithoutClusters(t *testing.T) {
	if got := upstreams.FromConfig(config.Default()); len(got) != 0 {
		t.Errorf("got %d clusters from an empty config", len(got))
	}
}
