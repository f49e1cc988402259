package main

import (
	"strconv"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/consul/consultest"
	"github.com/vigilhq/vigil/fleet"
)

func startAgent(t *testing.T) *consultest.Agent {
	t.Helper()
	bin, err := consultest.Binary()
	if err != nil {
		t.Skipf("no consul agent binary: %v", err)
	}
	agent, err := consultest.Start(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(agent.Stop)
	return agent
}

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
	agent := startAgent(t)
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
	f.Set(engine.ID, fleet.StateDraining)
	waitFor("draining engine gone from ?passing", func() bool { return !passing(t, client, "engines")[engine.Address] })
	f.Set(engine.ID, fleet.StateReady)
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
