package config_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/vigilhq/vigil/config"
)

// A Config built in Go is defaulted and validated by Finish, like a file.
func TestFinishOnAConfigBuiltInGo(t *testing.T) {
	c := config.Default()
	c.Defaults.Interval = 2 * time.Second
	c.Clusters = []config.Cluster{{
		Name:      "demo",
		Readiness: &config.Probe{Path: "/ready", ProbeSettings: config.ProbeSettings{JitterPercent: config.Ptr(0)}},
		Instances: []config.Instance{{Address: "127.0.0.1:9001"}, {Address: "127.0.0.1:9002", ID: "b", Weight: 5}},
	}}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	cl := c.Clusters[0]
	p := cl.Readiness
	if p.Kind != "http" || p.Interval != 2*time.Second || p.UnhealthyInterval != 2*time.Second ||
		p.Timeout != time.Second || *p.JitterPercent != 0 || p.HealthyThreshold != 2 {
		t.Errorf("probe = %+v", *p)
	}
	if cl.EDSServiceName != "demo" || cl.Instances[0].ID != "127.0.0.1:9001" || cl.Instances[0].Weight != 1 || cl.Instances[1].Weight != 5 {
		t.Errorf("cluster = %+v", cl)
	}

	// Finishing again changes nothing.
	before := *c
	beforeProbe := *c.Clusters[0].Readiness
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(beforeProbe, *c.Clusters[0].Readiness) || before.DrainPeriod != c.DrainPeriod {
		t.Errorf("second Finish changed the config")
	}
}

func TestFinishReportsProblemsWithoutPositions(t *testing.T) {
	c := &config.Config{Clusters: []config.Cluster{
		{Readiness: &config.Probe{Path: "x"}},
		{Name: "b", Readiness: &config.Probe{ProbeSettings: config.ProbeSettings{Timeout: 10 * time.Second}}},
	}}
	lines := problemLines(t, c.Finish())
	want := []string{
		"clusters[0].name: required",
		`clusters[0].readiness.path: "x" must start with /`,
		"clusters[1].readiness.timeout: must not be longer than interval (5s)",
	}
	if join(lines) != join(want) {
		t.Errorf("got:\n%s\nwant:\n%s", join(lines), join(want))
	}
}

func TestParsedConfigFinishesAgainUnchanged(t *testing.T) {
	c := mustParse(t, withCluster("    interval: 3s\n    readiness: {interval: 2s}\n    liveness: {}\n    instances: [{address: 127.0.0.1:80}]\n"))
	r, l := *c.Clusters[0].Readiness, *c.Clusters[0].Liveness
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, *c.Clusters[0].Readiness) || !reflect.DeepEqual(l, *c.Clusters[0].Liveness) {
		t.Errorf("probes changed:\n%+v\n%+v", *c.Clusters[0].Readiness, *c.Clusters[0].Liveness)
	}
}

func TestErrorFormatting(t *testing.T) {
	for _, tc := range []struct {
		e    config.Error
		want string
	}{
		{config.Error{File: "v.yaml", Line: 3, Field: "a.b", Msg: "bad"}, "v.yaml:3: a.b: bad"},
		{config.Error{File: "v.yaml", Field: "a.b", Msg: "bad"}, "v.yaml: a.b: bad"},
		{config.Error{File: "v.yaml", Line: 2, Msg: "bad"}, "v.yaml:2: bad"},
		{config.Error{Field: "a.b", Msg: "bad"}, "a.b: bad"},
	} {
		if got := tc.e.String(); got != tc.want {
			t.Errorf("%+v prints %q, want %q", tc.e, got, tc.want)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load("/nonexistent/vigil.yaml")
	if err == nil || !contains(err.Error(), "/nonexistent/vigil.yaml") {
		t.Errorf("err = %v, want it to name the file", err)
	}
}

// Finish must be idempotent for every probe kind (reload paths call it on
// configs that were already finished).
func TestFinishTwiceWithEveryKind(t *testing.T) {
	cfg := config.Default()
	for _, kind := range []string{"http", "grpc", "tcp"} {
		cfg.Clusters = append(cfg.Clusters, config.Cluster{Name: "c-" + kind, Readiness: &config.Probe{Kind: kind},
			Instances: []config.Instance{{Address: "127.0.0.1:1"}}})
	}
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Finish(); err != nil {
		t.Fatalf("second Finish: %v", err)
	}
}
