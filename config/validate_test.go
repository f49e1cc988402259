package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/aggregator/dialect"
	"github.com/vigilhq/vigil/config"
)

// Each case is a configuration with one problem and the exact line vigil
// validate prints for it. Cluster cases use withCluster: the cluster starts
// at line 2 and its own lines at line 3.
func TestValidationProblems(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		// Global settings.
		{"admin listen not host:port", "admin:\n  listen: nope\n",
			`vigil.yaml:2: admin.listen: "nope" is not host:port`},
		{"xds listen port out of range", "xds:\n  listen: 127.0.0.1:70000\n",
			`vigil.yaml:2: xds.listen: port "70000" must be a number 0..65535`},
		{"grpc_listeners not a bool", "xds:\n  grpc_listeners: maybe\n",
			`vigil.yaml:2: xds.grpc_listeners: expected true or false, got "maybe"`},
		{"negative drain period", "drain_period: -1s\n",
			`vigil.yaml:1: drain_period: must not be negative`},
		{"negative restore_max_age", "restore_max_age: -1m\n",
			`vigil.yaml:1: restore_max_age: must not be negative`},
		{"bare number duration", "drain_period: 5\n",
			`vigil.yaml:1: drain_period: a bare number (5) has no unit: write a duration such as "5s" or "5ms"`},
		{"unparsable duration", "drain_period: soon\n",
			`vigil.yaml:1: drain_period: invalid duration "soon": use a Go duration such as "1.5s", "500ms" or "1m"`},
		{"zero max_concurrency", "max_concurrency: 0\n",
			`vigil.yaml:1: max_concurrency: must be at least 1`},
		{"negative event_history", "event_history: -5\n",
			`vigil.yaml:1: event_history: must be at least 1`},
		{"max_concurrency not an integer", "max_concurrency: lots\n",
			`vigil.yaml:1: max_concurrency: expected an integer, got "lots"`},
		{"consul without address", "consul:\n  token: x\n",
			`vigil.yaml:1: consul.address: required when the consul block is present`},
		{"merge of a list of scalars", "admin:\n  <<: [1]\n",
			`vigil.yaml:2: admin: << must merge a mapping, got "1"`},
		{"consul address bad scheme", "consul:\n  address: ftp://127.0.0.1:8500\n",
			`vigil.yaml:2: consul.address: "ftp://127.0.0.1:8500" must be host:port or an http(s):// URL`},
		{"consul deployment charset", "consul:\n  address: 127.0.0.1:8500\n  deployment: a b\n",
			`vigil.yaml:3: consul.deployment: "a b" may only contain letters, digits, '.', '_' and '-'`},
		{"consul zero batch window", "consul:\n  address: 127.0.0.1:8500\n  batch_window: 0s\n",
			`vigil.yaml:3: consul.batch_window: must be greater than 0`},
		{"defaults initial status", "defaults:\n  initial_status: maybe\n",
			`vigil.yaml:2: defaults.initial_status: "maybe" is not one of unhealthy, unknown, healthy`},
		{"defaults zero timeout", "defaults:\n  timeout: 0s\n",
			`vigil.yaml:2: defaults.timeout: must be greater than 0`},
		{"defaults negative interval", "defaults:\n  interval: -5s\n",
			`vigil.yaml:2: defaults.interval: must be greater than 0`},
		{"defaults jitter above 100", "defaults:\n  jitter_percent: 101\n",
			`vigil.yaml:2: defaults.jitter_percent: must be between 0 and 100`},
		{"defaults healthy threshold 0", "defaults:\n  healthy_threshold: 0\n",
			`vigil.yaml:2: defaults.healthy_threshold: must be at least 1`},
		{"defaults unhealthy threshold negative", "defaults:\n  unhealthy_threshold: -1\n",
			`vigil.yaml:2: defaults.unhealthy_threshold: must be at least 1`},
		{"defaults body limit too big", "defaults:\n  max_body_bytes: 20000000\n",
			`vigil.yaml:2: defaults.max_body_bytes: must be between 1 and 16777216 (16 MiB)`},
		{"defaults body limit zero", "defaults:\n  max_body_bytes: 0\n",
			`vigil.yaml:2: defaults.max_body_bytes: must be between 1 and 16777216 (16 MiB)`},
		{"empty status list", "defaults:\n  expected_statuses: []\n",
			`vigil.yaml:2: defaults.expected_statuses: must not be empty`},
		{"status out of range", "defaults:\n  expected_statuses:\n    - 200\n    - 600\n",
			`vigil.yaml:4: defaults.expected_statuses[1]: "600": status codes must be between 100 and 599`},
		{"status not a code", "defaults:\n  expected_statuses: \"200,abc\"\n",
			`vigil.yaml:2: defaults.expected_statuses[1]: "abc" is not a status code or a range such as "200-299"`},
		{"status range reversed", "defaults:\n  expected_statuses: [300-200]\n",
			`vigil.yaml:2: defaults.expected_statuses[0]: "300-200": range start is above its end`},
		{"defaults timeout longer than interval", "defaults:\n  interval: 1s\n  timeout: 2s\n",
			`vigil.yaml:3: defaults.timeout: must not be longer than interval (1s)`},
		{"defaults interval shorter than built-in timeout", "defaults:\n  interval: 500ms\n",
			`vigil.yaml:2: defaults.interval: must not be shorter than timeout (1s)`},
		{"defaults interval shorter than built-in timeout, with a probe", "defaults:\n  interval: 500ms\n" + "clusters:\n  - name: c\n    readiness: {}\n",
			`vigil.yaml:2: defaults.interval: must not be shorter than timeout (1s)`},

		// Clusters.
		{"cluster without name", "clusters:\n  - readiness: {}\n",
			`vigil.yaml:2: clusters[0].name: required`},
		{"cluster name charset", "clusters:\n  - name: a/b\n    readiness: {}\n",
			`vigil.yaml:2: clusters[0].name: "a/b" may only contain letters, digits, '.', '_' and '-'`},
		{"duplicate cluster names", "clusters:\n  - name: a\n    readiness: {}\n  - name: a\n    readiness: {}\n",
			`vigil.yaml:4: clusters[1].name: duplicate cluster name "a" (first at clusters[0].name, line 2)`},
		{"cluster without probes", withCluster("    instances: []\n"),
			`vigil.yaml:2: clusters[0]: needs a liveness or a readiness probe (or both)`},
		{"cluster dialect", withCluster("    dialect: xml\n    readiness: {}\n"),
			`vigil.yaml:3: clusters[0].dialect: "xml" is not one of auto, status, nativelink, amsdal, healthz, dynamo, cel`},
		{"cluster initial status", withCluster("    initial_status: up\n    readiness: {}\n"),
			`vigil.yaml:3: clusters[0].initial_status: "up" is not one of unhealthy, unknown, healthy`},
		{"cluster jitter", withCluster("    jitter_percent: -1\n    readiness: {}\n"),
			`vigil.yaml:3: clusters[0].jitter_percent: must be between 0 and 100`},
		{"lb policy", withCluster("    lb_policy: fastest\n    readiness: {}\n"),
			`vigil.yaml:3: clusters[0].lb_policy: "fastest" is not one of ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH, MAGLEV`},
		{"connect timeout zero", withCluster("    connect_timeout: 0s\n    readiness: {}\n"),
			`vigil.yaml:3: clusters[0].connect_timeout: must be greater than 0`},
		{"panic threshold above 100", withCluster("    healthy_panic_threshold: 101\n    readiness: {}\n"),
			`vigil.yaml:3: clusters[0].healthy_panic_threshold: must be between 0 and 100 (percent)`},
		{"max ejection percent zero", withCluster("    max_ejection_percent: 0\n    readiness: {}\n"),
			`vigil.yaml:3: clusters[0].max_ejection_percent: must be between 1 and 100 (percent), got 0`},
		{"max ejection percent above 100", withCluster("    max_ejection_percent: 150\n    readiness: {}\n"),
			`vigil.yaml:3: clusters[0].max_ejection_percent: must be between 1 and 100 (percent), got 150`},
		{"default max ejection percent negative", "defaults:\n  max_ejection_percent: -5\n",
			`vigil.yaml:2: defaults.max_ejection_percent: must be between 1 and 100 (percent), got -5`},
		{"fail-safe percent zero", "fail_safe:\n  global_failure_percent: 0\n",
			`vigil.yaml:2: fail_safe.global_failure_percent: must be between 1 and 100 (percent), got 0`},
		{"fail-safe percent above 100", "fail_safe: {global_failure_percent: 101}\n",
			`vigil.yaml:1: fail_safe.global_failure_percent: must be between 1 and 100 (percent), got 101`},
		{"fail-safe min clusters zero", "fail_safe:\n  min_clusters: 0\n",
			`vigil.yaml:2: fail_safe.min_clusters: must be at least 1`},
		{"fail-safe enabled not a bool", "fail_safe:\n  enabled: sometimes\n",
			`vigil.yaml:2: fail_safe.enabled: expected true or false, got "sometimes"`},
		{"fail-safe unknown key", "fail_safe:\n  percent: 50\n",
			`vigil.yaml:2: fail_safe.percent: unknown field`},
		{"panic threshold not a number", withCluster("    healthy_panic_threshold: half\n    readiness: {}\n"),
			`vigil.yaml:3: clusters[0].healthy_panic_threshold: expected a number, got "half"`},
		{"consul service charset", withCluster("    consul_service: a b\n    readiness: {}\n"),
			`vigil.yaml:3: clusters[0].consul_service: "a b" may only contain letters, digits, '.', '_' and '-'`},
		{"empty consul tag", withCluster("    consul_tags: [a, \"\"]\n    readiness: {}\n"),
			`vigil.yaml:3: clusters[0].consul_tags[1]: must not be empty`},
		{"duplicate eds name", "clusters:\n  - name: a\n    readiness: {}\n  - name: b\n    eds_service_name: a\n    readiness: {}\n",
			`vigil.yaml:5: clusters[1].eds_service_name: EDS name "a" is already used by clusters[0], line 2`},
		{"eds name defaulted to a taken name", "clusters:\n  - name: a\n    eds_service_name: b\n    readiness: {}\n  - name: b\n    readiness: {}\n",
			`vigil.yaml:5: clusters[1].eds_service_name: EDS name "b" is already used by clusters[0], line 2 (eds_service_name defaults to the cluster name)`},
		{"discovery with instances", "consul: {address: 127.0.0.1:8500}\n" + "clusters:\n  - name: c\n    readiness: {}\n    instances: [{address: 127.0.0.1:80}]\n    discovery: {consul: {service: web}}\n",
			`vigil.yaml:6: clusters[0].discovery: cannot be combined with instances or instances_file`},
		{"discovery without source", "consul: {address: 127.0.0.1:8500}\n" + "clusters:\n  - name: c\n    readiness: {}\n    discovery: {}\n",
			`vigil.yaml:5: clusters[0].discovery: must name a source (consul)`},
		{"discovery without service", "consul: {address: 127.0.0.1:8500}\n" + "clusters:\n  - name: c\n    readiness: {}\n    discovery:\n      consul: {tag: x}\n",
			`vigil.yaml:6: clusters[0].discovery.consul.service: required`},
		{"discovery without consul block", withCluster("    readiness: {}\n    discovery:\n      consul: {service: web}\n"),
			`vigil.yaml:5: clusters[0].discovery.consul: needs the top-level consul block (its address) to reach Consul`},

		// Probes.
		{"probe kind", withCluster("    readiness:\n      kind: udp\n"),
			`vigil.yaml:4: clusters[0].readiness.kind: "udp" is not one of http, grpc, tcp`},
		{"probe path without slash", withCluster("    readiness:\n      path: health\n"),
			`vigil.yaml:4: clusters[0].readiness.path: "health" must start with /`},
		{"probe port out of range", withCluster("    liveness:\n      port: 70000\n"),
			`vigil.yaml:4: clusters[0].liveness.port: must be between 1 and 65535 (0 or absent: the instance's port)`},
		{"probe scheme", withCluster("    readiness:\n      scheme: ftp\n"),
			`vigil.yaml:4: clusters[0].readiness.scheme: "ftp" is not one of http, https`},
		{"probe header name", withCluster("    readiness:\n      headers:\n        \"X Bad\": 1\n"),
			`vigil.yaml:5: clusters[0].readiness.headers.X Bad: "X Bad" is not a valid header name`},
		{"probe header value not a string", withCluster("    readiness:\n      headers:\n        X-A: [1]\n"),
			`vigil.yaml:5: clusters[0].readiness.headers.X-A: expected a string value, got a list`},
		{"probe dialect", withCluster("    readiness:\n      dialect: json\n"),
			`vigil.yaml:4: clusters[0].readiness.dialect: "json" is not one of auto, status, nativelink, amsdal, healthz, dynamo, cel`},
		{"cel dialect without pass", withCluster("    readiness:\n      dialect: cel\n"),
			`vigil.yaml:3: clusters[0].readiness.cel.pass: required when the dialect is cel`},
		{"cel dialect inherited without pass", withCluster("    dialect: cel\n    readiness:\n      cel: {drain: \"false\"}\n"),
			`vigil.yaml:5: clusters[0].readiness.cel.pass: required when the dialect is cel`},
		{"cel rules with another dialect", withCluster("    readiness:\n      dialect: dynamo\n      cel: {pass: \"true\"}\n"),
			`vigil.yaml:5: clusters[0].readiness.cel: only used with dialect cel (this probe's dialect is dynamo)`},
		{"grpc service on http probe", withCluster("    readiness:\n      grpc_service: a.B\n"),
			`vigil.yaml:4: clusters[0].readiness.grpc_service: only used by grpc probes (this probe's kind is http)`},
		{"path on tcp probe", withCluster("    liveness:\n      kind: tcp\n      path: /x\n"),
			`vigil.yaml:5: clusters[0].liveness.path: only used by http probes (this probe's kind is tcp)`},
		{"statuses on grpc probe", withCluster("    liveness:\n      kind: grpc\n      expected_statuses: [200]\n"),
			`vigil.yaml:5: clusters[0].liveness.expected_statuses: only used by http probes (this probe's kind is grpc)`},
		{"probe timeout longer than inherited interval", withCluster("    readiness:\n      timeout: 6s\n"),
			`vigil.yaml:4: clusters[0].readiness.timeout: must not be longer than interval (5s)`},
		{"probe interval shorter than inherited timeout", withCluster("    readiness:\n      interval: 500ms\n"),
			`vigil.yaml:4: clusters[0].readiness.interval: must not be shorter than timeout (1s)`},
		{"cluster timeout against probe interval", withCluster("    timeout: 2s\n    readiness:\n      interval: 1s\n"),
			`vigil.yaml:5: clusters[0].readiness.interval: must not be shorter than timeout (2s)`},
		{"unhealthy interval shorter than timeout", withCluster("    unhealthy_interval: 500ms\n    readiness: {}\n"),
			`vigil.yaml:3: clusters[0].unhealthy_interval: must not be shorter than timeout (1s)`},
		{"probe threshold zero", withCluster("    readiness:\n      healthy_threshold: 0\n"),
			`vigil.yaml:4: clusters[0].readiness.healthy_threshold: must be at least 1`},
		{"probe bare number timeout", withCluster("    readiness:\n      timeout: 1\n"),
			`vigil.yaml:4: clusters[0].readiness.timeout: a bare number (1) has no unit: write a duration such as "1s" or "1ms"`},

		{"probe host with a space", withCluster("    readiness:\n      host: a b\n"),
			`vigil.yaml:4: clusters[0].readiness.host: "a b" is not a valid Host header`},
		{"probe header value with a line break", withCluster("    readiness:\n      headers: {X-A: \"a\\nb\"}\n"),
			`vigil.yaml:4: clusters[0].readiness.headers.X-A: header values must not contain line breaks`},
		{"statuses as a mapping", withCluster("    readiness:\n      expected_statuses: {ok: 200}\n"),
			`vigil.yaml:4: clusters[0].readiness.expected_statuses: expected a list of status codes or a string such as "200-299,301", got a mapping`},
		{"status item not a scalar", withCluster("    readiness:\n      expected_statuses: [[200]]\n"),
			`vigil.yaml:4: clusters[0].readiness.expected_statuses[0]: expected a status code or a range such as "200-299", got a list`},
		{"duration as a mapping", withCluster("    readiness:\n      interval: {s: 1}\n"),
			`vigil.yaml:4: clusters[0].readiness.interval: expected a duration such as "5s", got a mapping`},

		// Instances.
		{"instance without address", withCluster("    readiness: {}\n    instances:\n      - id: a\n"),
			`vigil.yaml:5: clusters[0].instances[0].address: required (host:port)`},
		{"instance address without port", withCluster("    readiness: {}\n    instances:\n      - address: foo\n"),
			`vigil.yaml:5: clusters[0].instances[0].address: "foo" is not host:port`},
		{"instance port zero", withCluster("    readiness: {}\n    instances:\n      - address: 127.0.0.1:0\n"),
			`vigil.yaml:5: clusters[0].instances[0].address: "127.0.0.1:0": port must be a number 1..65535`},
		{"instance without host", withCluster("    readiness: {}\n    instances:\n      - address: :80\n"),
			`vigil.yaml:5: clusters[0].instances[0].address: ":80" has no host`},
		{"instance bad hostname", withCluster("    readiness: {}\n    instances:\n      - address: bad!host:80\n"),
			`vigil.yaml:5: clusters[0].instances[0].address: "bad!host:80": host "bad!host" is neither an IP address nor a hostname`},
		{"instance weight zero", withCluster("    readiness: {}\n    instances:\n      - address: 127.0.0.1:80\n        weight: 0\n"),
			`vigil.yaml:6: clusters[0].instances[0].weight: must be at least 1`},
		{"instance weight too big", withCluster("    readiness: {}\n    instances:\n      - address: 127.0.0.1:80\n        weight: 5000000000\n"),
			`vigil.yaml:6: clusters[0].instances[0].weight: 5000000000 is out of range (0..4294967295)`},
		{"duplicate instance id", withCluster("    readiness: {}\n    instances:\n      - {address: 127.0.0.1:80, id: a}\n      - {address: 127.0.0.1:81, id: a}\n"),
			`vigil.yaml:6: clusters[0].instances[1].id: duplicate instance id "a" (first at clusters[0].instances[0].id, line 5)`},
		{"duplicate instance address", withCluster("    readiness: {}\n    instances:\n      - address: 127.0.0.1:80\n      - address: 127.0.0.1:80\n"),
			`vigil.yaml:6: clusters[0].instances[1].address: duplicate address "127.0.0.1:80" (first at clusters[0].instances[0].address, line 5)`},
		{"empty instance item", withCluster("    readiness: {}\n    instances:\n      -\n"),
			`vigil.yaml:5: clusters[0].instances[0].address: required (host:port)`},
		{"instances not a list", withCluster("    readiness: {}\n    instances: {address: 127.0.0.1:80}\n"),
			`vigil.yaml:4: clusters[0].instances: expected a list, got a mapping`},

		{"instance meta as a list", withCluster("    readiness: {}\n    instances:\n      - address: 127.0.0.1:80\n        meta: [a]\n"),
			`vigil.yaml:6: clusters[0].instances[0].meta: expected a mapping, got a list`},

		// Shape and syntax.
		{"clusters not a list", "clusters:\n  name: a\n",
			`vigil.yaml:2: clusters: expected a list, got a mapping`},
		{"admin not a mapping", "admin: [a]\n",
			`vigil.yaml:1: admin: expected a mapping, got a list`},
		{"top level not a mapping", "- a\n",
			`vigil.yaml:1: expected a mapping, got a list`},
		{"duplicate key", "admin:\n  listen: 127.0.0.1:1\n  listen: 127.0.0.1:2\n",
			`vigil.yaml:3: admin.listen: duplicate key (first written at line 2)`},
		{"yaml syntax error", "admin:\n  listen: [\n",
			`vigil.yaml:2: invalid YAML: did not find expected node content`},
		{"two documents", "admin: {}\n---\nxds: {}\n",
			`vigil.yaml:2: only one YAML document is allowed`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lines := problems(t, tc.src, dialect.ConfigOption()) // as vigil validate checks
			if len(lines) != 1 || lines[0] != tc.want {
				t.Errorf("problems:\n  %s\nwant exactly:\n  %s\nconfig:\n%s", strings.Join(lines, "\n  "), tc.want, tc.src)
			}
		})
	}
}

func TestUnknownKeysAtEveryDepth(t *testing.T) {
	src := `bogus: 1
admin:
  listn: 127.0.0.1:1
consul:
  address: 127.0.0.1:8500
  tokn: x
defaults:
  intervall: 5s
clusters:
  - name: c
    colour: red
    readiness:
      pathh: /x
      cel:
        pass: "true"
        passs: "true"
      dialect: cel
    instances:
      - address: 127.0.0.1:80
        zonee: z
    discovery:
      consul:
        service: web
        tags: [a]
`
	lines := problems(t, src)
	for _, want := range []string{
		`vigil.yaml:1: bogus: unknown field`,
		`vigil.yaml:3: admin.listn: unknown field (did you mean "listen"?)`,
		`vigil.yaml:6: consul.tokn: unknown field (did you mean "token"?)`,
		`vigil.yaml:8: defaults.intervall: unknown field (did you mean "interval"?)`,
		`vigil.yaml:11: clusters[0].colour: unknown field`,
		`vigil.yaml:13: clusters[0].readiness.pathh: unknown field (did you mean "path"?)`,
		`vigil.yaml:16: clusters[0].readiness.cel.passs: unknown field (did you mean "pass"?)`,
		`vigil.yaml:20: clusters[0].instances[0].zonee: unknown field (did you mean "zone"?)`,
		`vigil.yaml:24: clusters[0].discovery.consul.tags: unknown field (did you mean "tag"?)`,
	} {
		hasLine(t, lines, want)
	}
}

func TestManyProblemsAtOnceSortedByLine(t *testing.T) {
	src := `admin:
  listen: nope
drain_period: 5
defaults:
  jitter_percent: 120
clusters:
  - name: a
    readiness:
      path: health
      timeout: 6s
    instances:
      - address: 127.0.0.1:80
      - address: 127.0.0.1:80
  - name: a
    lb_policy: fast
`
	_, err := config.Parse("vigil.yaml", []byte(src))
	lines := problemLines(t, err)
	want := []string{
		`vigil.yaml:2: admin.listen: "nope" is not host:port`,
		`vigil.yaml:3: drain_period: a bare number (5) has no unit: write a duration such as "5s" or "5ms"`,
		`vigil.yaml:5: defaults.jitter_percent: must be between 0 and 100`,
		`vigil.yaml:9: clusters[0].readiness.path: "health" must start with /`,
		`vigil.yaml:10: clusters[0].readiness.timeout: must not be longer than interval (5s)`,
		`vigil.yaml:13: clusters[0].instances[1].address: duplicate address "127.0.0.1:80" (first at clusters[0].instances[0].address, line 12)`,
		`vigil.yaml:14: clusters[1]: needs a liveness or a readiness probe (or both)`,
		`vigil.yaml:14: clusters[1].name: duplicate cluster name "a" (first at clusters[0].name, line 7)`,
		`vigil.yaml:15: clusters[1].lb_policy: "fast" is not one of ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH, MAGLEV`,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	var errs *config.Errors
	errors.As(err, &errs)
	if e := errs.List[4]; e.File != "vigil.yaml" || e.Line != 10 || e.Field != "clusters[0].readiness.timeout" {
		t.Errorf("structured problem = %+v", e)
	}
}

func TestAProblemIsReportedOnce(t *testing.T) {
	// A bad defaults timeout concerns every probe; it is still one problem.
	src := "defaults:\n  interval: 1s\n  timeout: 2s\nclusters:\n" +
		"  - name: a\n    readiness: {}\n    liveness: {}\n  - name: b\n    readiness: {}\n"
	lines := problems(t, src)
	if len(lines) != 1 {
		t.Errorf("got %d problems, want 1:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	// A value that does not decode is not checked again.
	lines = problems(t, withCluster("    readiness: {}\n    instances:\n      - {address: 127.0.0.1:80, weight: -1}\n"))
	if len(lines) != 1 {
		t.Errorf("got %d problems, want 1:\n%s", len(lines), strings.Join(lines, "\n"))
	}
}

// An empty file (nothing, whitespace, comments, a bare document marker or
// null) would serve nothing on the default ports: it is one problem naming
// the file, from Parse and from Load alike.
func TestEmptyConfigurationIsAnError(t *testing.T) {
	const want = "vigil.yaml: the configuration is empty (nothing but whitespace or comments): it needs at least one cluster (see examples/vigil.yaml)"
	for name, src := range map[string]string{
		"nothing": "", "blank lines": "\n \n\t\n", "comments": "# vigil\n# todo: clusters\n",
		"document marker": "---\n", "null": "~\n",
	} {
		t.Run(name, func(t *testing.T) {
			lines := problems(t, src)
			if len(lines) != 1 || lines[0] != want {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(lines, "\n"), want)
			}
		})
	}
	path := writeFile(t, t.TempDir(), "vigil.yaml", "# only a comment\n")
	_, err := config.Load(path)
	if lines := problemLines(t, err); len(lines) != 1 || !strings.HasPrefix(lines[0], path+": the configuration is empty") {
		t.Errorf("Load: %v", err)
	}
}

// Without the dialect registry (config.WithDialects) a dialect name is
// checked for its form only; the prober refuses an unknown one later.
func TestDialectWithoutTheRegistryIsCheckedForForm(t *testing.T) {
	const src = "clusters:\n  - name: web\n    instances: [{id: a, address: 127.0.0.1:80}]\n    readiness:\n      dialect: %s\n"
	mustParse(t, sprintf(src, "xml"))
	lines := problems(t, sprintf(src, `"x/y"`))
	if want := `vigil.yaml:5: clusters[0].readiness.dialect: "x/y" is not a dialect name`; len(lines) != 1 || lines[0] != want {
		t.Errorf("problems %q, want %q", lines, want)
	}
}

// A configuration without clusters is refused like an empty file: one that
// replaced a working configuration would take every cluster away.
func TestNoClustersIsAnError(t *testing.T) {
	for src, want := range map[string]string{
		"clusters: []\n":               `vigil.yaml:1: clusters: at least one cluster is required (vigil has nothing to probe)`,
		"admin: {listen: 1.2.3.4:5}\n": `vigil.yaml: clusters: at least one cluster is required (vigil has nothing to probe)`,
	} {
		_, err := config.Parse("vigil.yaml", []byte(src))
		if lines := problemLines(t, err); len(lines) != 1 || lines[0] != want {
			t.Errorf("%q: problems %q, want %q", src, lines, want)
		}
	}
}
