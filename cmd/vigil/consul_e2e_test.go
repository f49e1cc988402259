package main

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/consul"
	"github.com/vigilhq/vigil/consul/consultest"
	"github.com/vigilhq/vigil/fleet"
)

// passing lists the addresses Consul's ?passing query returns for service.
func passing(t *testing.T, c *consulapi.Client, service string) map[string]bool {
	t.Helper()
	entries, _, err := c.Health().Service(service, "", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range entries {
		out[e.Service.Address+":"+strconv.Itoa(e.Service.Port)] = true
	}
	return out
}

// TestConsulPublishingAndDiscoveryThroughTheBinary: with a consul block,
// vigil's verdicts reach the real catalog (a draining engine leaves
// ?passing and comes back), and a cluster discovered from Consul is probed
// and shown in the API.
func TestConsulPublishingAndDiscoveryThroughTheBinary(t *testing.T) {
	agent := consultest.StartForTest(t)
	f := startFleet(t)
	var engine fleet.Instance
	var statusInst fleet.Instance
	for _, in := range f.Instances() {
		if in.Format == fleet.FormatHealthz && engine.ID == "" {
			engine = in
		}
		if in.Format == fleet.FormatStatus && statusInst.ID == "" {
			statusInst = in
		}
	}
	// A service registered by someone else, which vigil discovers and probes.
	host, port := splitHostPort(t, statusInst.Address)
	if err := agent.Client().Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
		ID: "plain-1", Name: "plain-svc", Address: host, Port: port}); err != nil {
		t.Fatal(err)
	}
	r := startVigil(t, f, func(cfg *config.Config) {
		cfg.Consul = &config.Consul{Address: agent.HTTPAddr, BatchWindow: 50 * time.Millisecond,
			ResyncInterval: 2 * time.Second}
		cfg.Clusters = append(cfg.Clusters, config.Cluster{Name: "discovered", Dialect: "status",
			Readiness: &config.Probe{Path: "/ready"},
			Discovery: &config.Discovery{Consul: &config.ConsulDiscovery{Service: "plain-svc"}}})
	})
	client := agent.Client()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out: %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("engine passing in Consul", func() bool { return passing(t, client, "engines")[engine.Address] })
	setState(t, f, engine.ID, fleet.StateDraining)
	waitFor("draining engine gone from ?passing", func() bool { return !passing(t, client, "engines")[engine.Address] })
	setState(t, f, engine.ID, fleet.StateReady)
	waitFor("engine back in ?passing", func() bool { return passing(t, client, "engines")[engine.Address] })

	// Discovered instances are named <node>/<service id> (service IDs are unique per node only).
	discoveredID := agent.Node + "/plain-1"
	r.waitStatus("discovered", discoveredID, "HEALTHY")
	if err := client.Agent().ServiceDeregister("plain-1"); err != nil {
		t.Fatal(err)
	}
	waitFor("deregistered instance leaves the cluster", func() bool {
		got, _ := r.statusOf("discovered", discoveredID)
		return got == ""
	})
	// The owner's registration was never touched by vigil: it is gone, not rewritten.
	if got := passing(t, client, "plain-svc"); len(got) != 0 {
		t.Errorf("plain-svc still has %v", got)
	}
}

// readyzConsul is /readyz's code and its consul check.
func (r *running) readyzConsul() (int, string) {
	var body struct {
		Checks map[string]string `json:"checks"`
	}
	code := r.getJSON("/readyz", &body)
	return code, body.Checks["consul"]
}

// breakerState is vigil_consul_breaker_state from /metrics (-1: absent).
func (r *running) breakerState() int {
	r.t.Helper()
	resp, err := http.Get(r.admin + "/metrics")
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck // a response body: nothing to lose
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "vigil_consul_breaker_state "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return -1
}

// TestReadyzFollowsConsulOutage: with nothing to write, /readyz names Consul
// unavailable within seconds of the agent dying and the breaker metric
// opens soon after; both stay so, sample by sample, while it is down; once
// an agent answers again, vigil is ready and the breaker closed. Before,
// /readyz said Consul was fine until the next write or the 60s resync.
func TestReadyzFollowsConsulOutage(t *testing.T) {
	agent := consultest.StartForTest(t)
	r := startVigil(t, startFleet(t), func(cfg *config.Config) {
		cfg.Consul = &config.Consul{Address: agent.HTTPAddr, BatchWindow: 50 * time.Millisecond}
	})
	waitHTTP(t, r.admin+"/readyz", http.StatusOK, 30*time.Second)
	if s := r.breakerState(); s != 0 {
		t.Fatalf("breaker state %d before the outage", s)
	}

	agent.Kill()
	killed := time.Now()
	var notReady, opened time.Duration
	for opened == 0 || time.Since(killed) < 15*time.Second {
		code, detail := r.readyzConsul()
		down := code == http.StatusServiceUnavailable && strings.Contains(detail, "unavailable")
		switch {
		case notReady == 0 && down:
			notReady = time.Since(killed)
		case notReady != 0 && !down:
			t.Fatalf("%s after the kill, /readyz said %d, consul %q, while Consul was still down", time.Since(killed), code, detail)
		}
		if s := r.breakerState(); opened == 0 && s == 2 {
			opened = time.Since(killed)
		} else if opened != 0 && s == 0 {
			t.Fatalf("breaker closed %s after the kill, while Consul was still down", time.Since(killed))
		}
		if time.Since(killed) > 30*time.Second {
			t.Fatalf("after 30s: not ready after %s, breaker open after %s", notReady, opened)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("after the kill: /readyz names Consul unavailable at %s, breaker open at %s", notReady, opened)
	if notReady > consul.DefaultHealthInterval+3*time.Second || opened > consul.DefaultHealthInterval+5*time.Second {
		t.Errorf("outage noticed too late: /readyz at %s, breaker at %s", notReady, opened)
	}

	bin, err := consultest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	second, err := consultest.StartOn(bin, agent.Ports)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(second.Stop)
	back := time.Now()
	waitHTTP(t, r.admin+"/readyz", http.StatusOK, consul.DefaultBreakerOpenTimeout+consul.DefaultHealthInterval+15*time.Second)
	t.Logf("ready %s after the agent was back", time.Since(back))
	if s := r.breakerState(); s != 0 {
		t.Errorf("breaker state %d once ready again", s)
	}
}
