package consul_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/consul"
	"github.com/vigilhq/vigil/internal/runtest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// A drained instance leaves ?passing and Consul DNS within one batch window;
// a degraded one stays in DNS (warning) but leaves ?passing.
func TestDrainLeavesPassingAndDNS(t *testing.T) {
	a := requireAgent(t)
	spec := &upstreams.Cluster{Name: "drain-web", Consul: upstreams.ConsulOptions{
		Tags: []string{"v1"}, Meta: map[string]string{"team": "edge"},
	}}
	members := []membership.Member{
		instance(21001, membership.StatusHealthy),
		instance(21002, membership.StatusHealthy),
		instance(21003, membership.StatusHealthy),
	}
	opts := consul.Options{Deployment: "t-drain", BatchWindow: 200 * time.Millisecond}
	f := newFixture(t, a.HTTPAddr, spec, members, opts)
	dns := a.Resolver()

	runtest.Eventually(t, 30*time.Second, "all three passing and in DNS", func() error {
		if err := passingPorts(f.client, "drain-web").are(21001, 21002, 21003); err != nil {
			return err
		}
		return srvPorts(dns, "drain-web").are(21001, 21002, 21003)
	})

	// The registration carries the traffic address, tags, meta and the node markers.
	entries, _, err := f.client.Health().Service("drain-web", "v1", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("tag v1: %d entries, want 3", len(entries))
	}
	e := entries[0]
	if e.Service.Address != "127.0.0.1" || e.Service.Meta["team"] != "edge" ||
		e.Service.Meta[consul.MetaCluster] != "drain-web" || e.Service.Meta[consul.MetaDeployment] != "t-drain" {
		t.Errorf("service = %+v", e.Service)
	}
	if e.Node.Node != "vigil-t-drain" || e.Node.Meta["external-node"] != "true" ||
		e.Node.Meta["external-probe"] != "false" || e.Node.Meta[consul.MetaDeployment] != "t-drain" {
		t.Errorf("node = %+v", e.Node)
	}

	f.set(21002, membership.StatusDraining, "operator: deploy")
	took := runtest.Eventually(t, opts.BatchWindow+slack, "drained instance leaves ?passing and DNS", func() error {
		if err := passingPorts(f.client, "drain-web").are(21001, 21003); err != nil {
			return err
		}
		return srvPorts(dns, "drain-web").are(21001, 21003)
	})
	t.Logf("drain visible in ?passing and DNS after %s", took)
	ch, err := vigilCheck(f.client, "vigil-t-drain", "drain-web", 21002)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Status != consulapi.HealthCritical || !strings.HasPrefix(ch.Output, "draining:") || !strings.Contains(ch.Output, "operator: deploy") {
		t.Errorf("drained check = %s %q, want critical \"draining: ...\"", ch.Status, ch.Output)
	}
	// Still registered: a drain is not a deregistration.
	if err := allPorts(f.client, "drain-web").are(21001, 21002, 21003); err != nil {
		t.Error(err)
	}

	f.set(21003, membership.StatusDegraded, "slow disk")
	runtest.Eventually(t, opts.BatchWindow+slack, "degraded instance: out of ?passing, still in DNS", func() error {
		if err := passingPorts(f.client, "drain-web").are(21001); err != nil {
			return err
		}
		return srvPorts(dns, "drain-web").are(21001, 21003)
	})
	ch, err = vigilCheck(f.client, "vigil-t-drain", "drain-web", 21003)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Status != consulapi.HealthWarning || ch.Output != "degraded: slow disk" {
		t.Errorf("degraded check = %s %q", ch.Status, ch.Output)
	}
	if ok, detail := f.pub.Healthy(); !ok {
		t.Errorf("Healthy() = false, %q", detail)
	}
}

// otherOwners registers instances of service that vigil does not own: one on
// an external node of another vigil deployment, one through the agent.
func otherOwners(t *testing.T, c *consulapi.Client, service string) (foreignIndex, agentIndex uint64) {
	t.Helper()
	_, err := c.Catalog().Register(&consulapi.CatalogRegistration{
		Node:     "other-" + service,
		Address:  "127.0.0.2",
		NodeMeta: map[string]string{"external-node": "true", consul.MetaDeployment: "someone-else"},
		Service: &consulapi.AgentService{
			ID: "other-1", Service: service, Address: "127.0.0.2", Port: 30001,
			Meta: map[string]string{consul.MetaDeployment: "someone-else"},
		},
		Check: &consulapi.AgentCheck{CheckID: "other-1:check", Name: "theirs", Status: consulapi.HealthPassing, ServiceID: "other-1"},
	}, nil)
	if err != nil {
		t.Fatalf("register foreign instance: %v", err)
	}
	if err := c.Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
		ID: service + "-agent-1", Name: service, Address: "127.0.0.3", Port: 30002,
	}); err != nil {
		t.Fatalf("register agent instance: %v", err)
	}
	t.Cleanup(func() {
		// Best-effort cleanup: the test agent is thrown away afterwards.
		_ = c.Agent().ServiceDeregister(service + "-agent-1")
		_, _ = c.Catalog().Deregister(&consulapi.CatalogDeregistration{Node: "other-" + service}, nil)
	})
	return foreignServiceIndex(t, c, service)
}

func foreignServiceIndex(t *testing.T, c *consulapi.Client, service string) (foreign, agentOwned uint64) {
	t.Helper()
	entries, _, err := c.Catalog().Service(service, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch e.ServicePort {
		case 30001:
			foreign = e.ModifyIndex
		case 30002:
			agentOwned = e.ModifyIndex
		}
	}
	if foreign == 0 || agentOwned == 0 {
		t.Fatalf("other owners' instances missing from %s: %+v", service, entries)
	}
	return foreign, agentOwned
}

// Failing, recovering and removing instances moves the catalog with them,
// and never touches registrations of other owners.
func TestFailRecoverRemoveLeavesOthersAlone(t *testing.T) {
	a := requireAgent(t)
	client := a.Client()
	foreignIdx, agentIdx := otherOwners(t, client, "frr-web")

	spec := &upstreams.Cluster{Name: "frr", Consul: upstreams.ConsulOptions{Service: "frr-web"}}
	members := []membership.Member{instance(22001, membership.StatusHealthy), instance(22002, membership.StatusHealthy)}
	opts := consul.Options{Deployment: "t-frr", BatchWindow: 100 * time.Millisecond}
	f := newFixture(t, a.HTTPAddr, spec, members, opts)

	runtest.Eventually(t, 30*time.Second, "vigil's and others' instances passing", func() error {
		return passingPorts(client, "frr-web").are(22001, 22002, 30001, 30002)
	})

	f.set(22001, membership.StatusUnhealthy, "GET /healthz: connection refused")
	runtest.Eventually(t, opts.BatchWindow+slack, "failed instance leaves ?passing", func() error {
		return passingPorts(client, "frr-web").are(22002, 30001, 30002)
	})
	ch, err := vigilCheck(client, "vigil-t-frr", "frr", 22001)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Status != consulapi.HealthCritical || !strings.Contains(ch.Output, "connection refused") {
		t.Errorf("failed check = %s %q, want critical with the reason", ch.Status, ch.Output)
	}

	f.set(22001, membership.StatusHealthy, "")
	runtest.Eventually(t, opts.BatchWindow+slack, "recovered instance back in ?passing", func() error {
		return passingPorts(client, "frr-web").are(22001, 22002, 30001, 30002)
	})

	// Removed from config: the aggregator puts the cluster without it.
	snap, _ := f.store.Cluster("frr")
	f.store.PutCluster(spec, []membership.Member{*snap.Members[1]}, nil)
	runtest.Eventually(t, opts.BatchWindow+slack, "removed instance deregistered", func() error {
		return allPorts(client, "frr-web").are(22002, 30001, 30002)
	})

	// The whole cluster removed from config.
	f.store.RemoveCluster("frr", nil)
	runtest.Eventually(t, opts.BatchWindow+slack, "removed cluster deregistered", func() error {
		return allPorts(client, "frr-web").are(30001, 30002)
	})

	gotForeign, gotAgent := foreignServiceIndex(t, client, "frr-web")
	if gotForeign != foreignIdx || gotAgent != agentIdx {
		t.Errorf("other owners' registrations were modified: ModifyIndex %d->%d, %d->%d", foreignIdx, gotForeign, agentIdx, gotAgent)
	}
	checks, _, err := client.Health().Node("other-frr-web", nil)
	if err != nil || len(checks) != 1 || checks[0].Status != consulapi.HealthPassing {
		t.Errorf("foreign node's check changed: %+v, %v", checks, err)
	}
}

// A check rewritten by someone else between two vigil writes makes vigil's
// CAS fail; vigil re-reads and writes again instead of losing the update.
func TestCASConflictIsRetriedNotLost(t *testing.T) {
	a := requireAgent(t)
	spec := &upstreams.Cluster{Name: "cas-web"}
	opts := consul.Options{Deployment: "t-cas", BatchWindow: 100 * time.Millisecond, ResyncInterval: time.Hour}
	f := newFixture(t, a.HTTPAddr, spec, []membership.Member{instance(23001, membership.StatusHealthy)}, opts)
	runtest.Eventually(t, 30*time.Second, "instance passing", func() error {
		return passingPorts(f.client, "cas-web").are(23001)
	})

	// Someone else rewrites vigil's check, bumping its ModifyIndex.
	ch, err := vigilCheck(f.client, "vigil-t-cas", "cas-web", 23001)
	if err != nil {
		t.Fatal(err)
	}
	tampered := *ch
	tampered.Status, tampered.Output = consulapi.HealthWarning, "someone else was here"
	ok, resp, _, err := f.client.Txn().Txn(consulapi.TxnOps{{Check: &consulapi.CheckTxnOp{Verb: consulapi.CheckSet, Check: tampered}}}, nil)
	if err != nil || !ok {
		t.Fatalf("concurrent write: ok=%v err=%v resp=%+v", ok, err, resp)
	}

	f.set(23001, membership.StatusDraining, "rollout")
	runtest.Eventually(t, opts.BatchWindow+slack, "vigil's update lands despite the conflict", func() error {
		c, err := vigilCheck(f.client, "vigil-t-cas", "cas-web", 23001)
		if err != nil {
			return err
		}
		if c.Status != consulapi.HealthCritical || c.Output != "draining: rollout" {
			return fmt.Errorf("check = %s %q", c.Status, c.Output)
		}
		return nil
	})
	if n := f.metrics.count("cas_conflict"); n < 1 {
		t.Errorf("cas_conflict writes = %d, want >= 1", n)
	}
	// vigil now knows the right index: the next change needs no conflict.
	before := f.metrics.count("cas_conflict")
	f.set(23001, membership.StatusHealthy, "")
	runtest.Eventually(t, opts.BatchWindow+slack, "passing again", func() error {
		return passingPorts(f.client, "cas-web").are(23001)
	})
	if after := f.metrics.count("cas_conflict"); after != before {
		t.Errorf("cas_conflict went %d -> %d on an uncontended write", before, after)
	}
}

// Drift in what vigil owns is repaired by the periodic reconcile.
func TestResyncRepairsDrift(t *testing.T) {
	a := requireAgent(t)
	spec := &upstreams.Cluster{Name: "drift-web"}
	opts := consul.Options{Deployment: "t-drift", BatchWindow: 100 * time.Millisecond, ResyncInterval: time.Second}
	f := newFixture(t, a.HTTPAddr, spec, []membership.Member{
		instance(24001, membership.StatusHealthy), instance(24002, membership.StatusUnhealthy),
	}, opts)
	runtest.Eventually(t, 30*time.Second, "registered", func() error {
		return allPorts(f.client, "drift-web").are(24001, 24002)
	})

	// Someone deregisters one of vigil's instances and marks the other passing.
	id1 := consul.ServiceID("drift-web", "127.0.0.1:24001")
	if _, err := f.client.Catalog().Deregister(&consulapi.CatalogDeregistration{Node: "vigil-t-drift", ServiceID: id1}, nil); err != nil {
		t.Fatal(err)
	}
	ch, err := vigilCheck(f.client, "vigil-t-drift", "drift-web", 24002)
	if err != nil {
		t.Fatal(err)
	}
	ch.Status = consulapi.HealthPassing
	if ok, _, _, err := f.client.Txn().Txn(consulapi.TxnOps{{Check: &consulapi.CheckTxnOp{Verb: consulapi.CheckSet, Check: *ch}}}, nil); err != nil || !ok {
		t.Fatalf("tamper: ok=%v err=%v", ok, err)
	}
	runtest.Eventually(t, opts.ResyncInterval+slack, "drift repaired", func() error {
		if err := allPorts(f.client, "drift-web").are(24001, 24002); err != nil {
			return err
		}
		return passingPorts(f.client, "drift-web").are(24001)
	})
}

// vigil refuses to write to a node that another owner holds.
func TestForeignNodeIsNeverWritten(t *testing.T) {
	a := requireAgent(t)
	client := a.Client()
	reg := &consulapi.CatalogRegistration{
		Node: "clash-node", Address: "127.0.0.9",
		NodeMeta: map[string]string{"external-node": "true", consul.MetaDeployment: "owner-a"},
		Service:  &consulapi.AgentService{ID: "theirs", Service: "clash-web", Port: 25009},
	}
	if _, err := client.Catalog().Register(reg, nil); err != nil {
		t.Fatal(err)
	}
	// Best-effort cleanup.
	t.Cleanup(func() { _, _ = client.Catalog().Deregister(&consulapi.CatalogDeregistration{Node: "clash-node"}, nil) })
	before, _, err := client.Catalog().Node("clash-node", nil)
	if err != nil {
		t.Fatal(err)
	}

	spec := &upstreams.Cluster{Name: "clash-web"}
	opts := consul.Options{Deployment: "owner-b", Node: "clash-node", BatchWindow: 50 * time.Millisecond}
	f := newFixture(t, a.HTTPAddr, spec, []membership.Member{instance(25001, membership.StatusHealthy)}, opts)
	runtest.Eventually(t, 30*time.Second, "Healthy reports the clash", func() error {
		ok, detail := f.pub.Healthy()
		if ok || !strings.Contains(detail, "not owned") {
			return fmt.Errorf("Healthy() = %v, %q", ok, detail)
		}
		return nil
	})
	after, _, err := client.Catalog().Node("clash-node", nil)
	if err != nil {
		t.Fatal(err)
	}
	if after.Node.ModifyIndex != before.Node.ModifyIndex || len(after.Services) != 1 {
		t.Errorf("foreign node changed: %+v -> %+v", before, after)
	}
	if n := f.metrics.count("ok") + f.metrics.count("error") + f.metrics.count("cas_conflict"); n != 0 {
		t.Errorf("%d writes attempted on a foreign node", n)
	}
}

// With HoldUntil, nothing is written until it closes.
func TestHoldUntilDelaysWrites(t *testing.T) {
	a := requireAgent(t)
	hold := make(chan struct{})
	spec := &upstreams.Cluster{Name: "hold-web"}
	opts := consul.Options{Deployment: "t-hold", BatchWindow: 50 * time.Millisecond, HoldUntil: hold}
	f := newFixture(t, a.HTTPAddr, spec, []membership.Member{instance(25101, membership.StatusHealthy)}, opts)
	f.set(25101, membership.StatusUnhealthy, "still held")
	runtest.Eventually(t, slack, "Healthy says it is held", func() error {
		if ok, detail := f.pub.Healthy(); ok || !strings.Contains(detail, "first probe round") {
			return fmt.Errorf("Healthy() while held = %v, %q", ok, detail)
		}
		return nil
	})
	// Give a wrongly eager publisher several batch windows to write.
	deadline := time.Now().Add(10 * opts.BatchWindow)
	for time.Now().Before(deadline) {
		if n := f.metrics.count("ok"); n != 0 {
			t.Fatalf("%d writes before HoldUntil closed", n)
		}
		time.Sleep(opts.BatchWindow)
	}
	if err := allPorts(f.client, "hold-web").are(); err != nil {
		t.Fatalf("registered while held: %v", err)
	}
	close(hold)
	runtest.Eventually(t, 30*time.Second, "registered once released", func() error {
		if err := allPorts(f.client, "hold-web").are(25101); err != nil {
			return err
		}
		c, err := vigilCheck(f.client, "vigil-t-hold", "hold-web", 25101)
		if err != nil {
			return err
		}
		if c.Output != "unhealthy: still held" {
			return fmt.Errorf("output %q", c.Output)
		}
		return nil
	})
}

// A change of reason alone is written at most every OutputUpdateInterval; a
// status change is written at once, whatever is pending.
func TestOutputOnlyChangesAreThrottled(t *testing.T) {
	a := requireAgent(t)
	spec := &upstreams.Cluster{Name: "out-web"}
	opts := consul.Options{Deployment: "t-out", BatchWindow: 50 * time.Millisecond, OutputUpdateInterval: 8 * time.Second, ResyncInterval: time.Hour}
	f := newFixture(t, a.HTTPAddr, spec, []membership.Member{instance(25201, membership.StatusHealthy)}, opts)
	output := func() (string, error) {
		c, err := vigilCheck(f.client, "vigil-t-out", "out-web", 25201)
		if err != nil {
			return "", err
		}
		return c.Output, nil
	}
	waitOutput := func(within time.Duration, want string) time.Time {
		t.Helper()
		runtest.Eventually(t, within, "output "+want, func() error {
			got, err := output()
			if err == nil && got != want {
				err = fmt.Errorf("output %q", got)
			}
			return err
		})
		return time.Now()
	}
	waitOutput(30*time.Second, "healthy:")

	start := time.Now()
	f.set(25201, membership.StatusUnhealthy, "HTTP 503 (1)")
	waitOutput(opts.BatchWindow+slack, "unhealthy: HTTP 503 (1)")
	f.set(25201, membership.StatusUnhealthy, "HTTP 503 (2)")
	seen := waitOutput(opts.OutputUpdateInterval+opts.BatchWindow+slack, "unhealthy: HTTP 503 (2)")
	if gap := seen.Sub(start); gap < opts.OutputUpdateInterval {
		t.Errorf("output-only change written %s after the previous write, want >= %s", gap, opts.OutputUpdateInterval)
	}

	f.set(25201, membership.StatusUnhealthy, "HTTP 503 (3)") // held back again...
	f.set(25201, membership.StatusDraining, "shutdown")      // ...but a status change goes at once
	waitOutput(opts.BatchWindow+slack, "draining: shutdown")
}

// After the node is renamed, the deployment's old node (same marker) is
// removed with everything on it; nodes of other deployments stay.
func TestRenamedNodeLeavesNoStaleRegistrations(t *testing.T) {
	a := requireAgent(t)
	client := a.Client()
	register := func(node, deployment string, port int) {
		t.Helper()
		_, err := client.Catalog().Register(&consulapi.CatalogRegistration{
			Node: node, Address: "127.0.0.1",
			NodeMeta: map[string]string{"external-node": "true", consul.MetaDeployment: deployment},
			Service: &consulapi.AgentService{ID: "old", Service: "rename-web", Port: port,
				Meta: map[string]string{consul.MetaDeployment: deployment}},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = client.Catalog().Deregister(&consulapi.CatalogDeregistration{Node: node}, nil) }) // best-effort cleanup
	}
	register("vigil-old-name", "t-rename", 25401)
	register("vigil-not-ours", "t-rename-other", 25402)

	spec := &upstreams.Cluster{Name: "rename-web"}
	f := newFixture(t, a.HTTPAddr, spec, []membership.Member{instance(25403, membership.StatusHealthy)},
		consul.Options{Deployment: "t-rename", Node: "vigil-new-name"})
	runtest.Eventually(t, 30*time.Second, "old node gone, new one registered, foreign one kept", func() error {
		return allPorts(f.client, "rename-web").are(25402, 25403)
	})
}

// A held instance stays passing (it stays in rotation) and its check says
// "held: <why>" within one batch window, not one output_update_interval:
// the first word of the output changed. Unheld, it says healthy again.
func TestHeldStaysPassingAndSaysWhy(t *testing.T) {
	a := requireAgent(t)
	spec := &upstreams.Cluster{Name: "held-web"}
	members := []membership.Member{instance(21101, membership.StatusHealthy), instance(21102, membership.StatusHealthy)}
	opts := consul.Options{Deployment: "t-held", BatchWindow: 200 * time.Millisecond, OutputUpdateInterval: time.Hour}
	f := newFixture(t, a.HTTPAddr, spec, members, opts)
	runtest.Eventually(t, 30*time.Second, "both passing", func() error { return passingPorts(f.client, "held-web").are(21101, 21102) })

	hold := func(h *membership.Hold) {
		ok := f.store.UpdateMember("held-web", "127.0.0.1:21101", func(m *membership.Member) (*membership.Event, bool) {
			m.Held = h
			return nil, true
		})
		if !ok {
			t.Fatal("UpdateMember: not found")
		}
	}
	output := func(want string) func() error {
		return func() error {
			ch, err := vigilCheck(f.client, "vigil-t-held", "held-web", 21101)
			if err != nil {
				return err
			}
			if ch.Status != consulapi.HealthPassing || ch.Output != want {
				return fmt.Errorf("check %s %q, want passing %q", ch.Status, ch.Output, want)
			}
			return passingPorts(f.client, "held-web").are(21101, 21102)
		}
	}
	hold(&membership.Hold{Cause: membership.HoldFailSafe, Reason: "fail-safe: readiness: connect: connection refused"})
	runtest.Eventually(t, opts.BatchWindow+slack, "held output", output("held: fail-safe: readiness: connect: connection refused"))
	hold(nil)
	runtest.Eventually(t, opts.BatchWindow+slack, "healthy output again", output("healthy:"))
}
