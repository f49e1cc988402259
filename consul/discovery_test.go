package consul_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/consul"
	"github.com/vigilhq/vigil/internal/runtest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// latest keeps the last instance list the source reported per cluster.
type latest struct {
	mu    sync.Mutex
	calls int
	lists map[string][]upstreams.Instance
}

func (l *latest) onChange(cluster string, instances []upstreams.Instance) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	l.lists[cluster] = instances
}

func (l *latest) get(cluster string) ([]upstreams.Instance, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.lists[cluster]
	return v, ok
}

// Services registered through the agent are discovered with their
// meta-provided probe port, leave when deregistered, and vigil's own
// registrations of the same service are never discovered.
func TestDiscoveryFollowsAgentRegistrations(t *testing.T) {
	a := requireAgent(t)
	client := a.Client()
	reg := func(id string, port int, tags []string, meta map[string]string) {
		t.Helper()
		if err := client.Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
			ID: id, Name: "disc-web", Address: "127.0.0.1", Port: port, Tags: tags, Meta: meta,
		}); err != nil {
			t.Fatalf("register %s: %v", id, err)
		}
		t.Cleanup(func() { _ = client.Agent().ServiceDeregister(id) }) // best-effort cleanup
	}
	reg("d1", 27001, []string{"blue"}, map[string]string{"vigil_health_port": "28001"})
	reg("d2", 27002, []string{"blue"}, nil)
	reg("d3", 27003, []string{"green"}, nil)                                           // other tag
	reg("d4", 27004, []string{"blue"}, map[string]string{"vigil_health_port": "nope"}) // bad meta: no probe port

	// vigil itself publishes another cluster into the same service and tag.
	pubSpec := &upstreams.Cluster{Name: "disc-pub", Consul: upstreams.ConsulOptions{Service: "disc-web", Tags: []string{"blue"}}}
	f := newFixture(t, a.HTTPAddr, pubSpec, []membership.Member{instance(27100, membership.StatusHealthy)},
		consul.Options{Deployment: "t-disc", BatchWindow: 50 * time.Millisecond})
	runtest.Eventually(t, 30*time.Second, "vigil's own instance registered", func() error {
		return allPorts(f.client, "disc-web").are(27001, 27002, 27003, 27004, 27100)
	})

	discovered := upstreams.Cluster{Name: "disc", Discovery: &upstreams.ConsulDiscovery{
		Service: "disc-web", Tag: "blue", HealthPortMeta: "vigil_health_port",
	}}
	static := upstreams.Cluster{Name: "static"} // no discovery: not watched
	got := &latest{lists: map[string][]upstreams.Instance{}}
	src := upstreams.NewConsulSource(client, []upstreams.Cluster{discovered, static}, got.onChange)
	src.WaitTime, src.MinInterval = 5*time.Second, 20*time.Millisecond
	runUntilCleanup(t, "ConsulSource.Run", 10*time.Second, src.Run)

	node := a.Node
	want := map[string]int{node + "/d1": 28001, node + "/d2": 0, node + "/d4": 0}
	runtest.Eventually(t, 10*time.Second, "agent's blue instances discovered", func() error {
		return sameInstances(got, "disc", want)
	})
	list, _ := got.get("disc")
	for _, in := range list {
		if in.Source != "consul" {
			t.Errorf("%s: Source %q", in.ID, in.Source)
		}
	}
	if d1 := list[0]; d1.Address != "127.0.0.1:27001" || d1.ProbeAddress(&upstreams.Probe{Path: "/healthz"}) != "127.0.0.1:28001" {
		t.Errorf("d1 = %+v, probe address %s", d1, d1.ProbeAddress(nil))
	}
	if _, ok := got.get("static"); ok {
		t.Errorf("a cluster without discovery was reported")
	}

	if err := client.Agent().ServiceDeregister("d1"); err != nil {
		t.Fatal(err)
	}
	delete(want, node+"/d1")
	runtest.Eventually(t, 10*time.Second, "deregistered instance leaves", func() error {
		return sameInstances(got, "disc", want)
	})

	reg("d5", 27005, []string{"blue"}, map[string]string{"vigil_health_port": "28005"})
	want[node+"/d5"] = 28005
	runtest.Eventually(t, 10*time.Second, "new instance appears", func() error {
		return sameInstances(got, "disc", want)
	})
}

// sameInstances compares the reported IDs and probe ports with want.
func sameInstances(l *latest, cluster string, want map[string]int) error {
	list, ok := l.get(cluster)
	if !ok {
		return fmt.Errorf("nothing reported for %s yet", cluster)
	}
	have := map[string]int{}
	for _, in := range list {
		have[in.ID] = in.ProbePort
	}
	if len(have) != len(want) {
		return fmt.Errorf("got %v, want %v", have, want)
	}
	for id, p := range want {
		if hp, ok := have[id]; !ok || hp != p {
			return fmt.Errorf("got %v, want %v", have, want)
		}
	}
	return nil
}

// A discovered cluster is not written back into the service it was
// discovered from; with an explicit, different consul service vigil
// publishes its verdicts there instead.
func TestDiscoveredClusterIsNotRepublished(t *testing.T) {
	a := requireAgent(t)
	client := a.Client()
	if err := client.Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
		ID: "rp1", Name: "rp-web", Address: "127.0.0.1", Port: 29001,
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Agent().ServiceDeregister("rp1") }) // best-effort cleanup

	disc := &upstreams.ConsulDiscovery{Service: "rp-web"}
	implicit := &upstreams.Cluster{Name: "rp-web", Discovery: disc}
	explicit := &upstreams.Cluster{Name: "rp-verdicts", Discovery: disc, Consul: upstreams.ConsulOptions{Service: "rp-web-vigil"}}
	member := func() []membership.Member {
		m := instance(29001, membership.StatusDraining)
		m.Source = "consul"
		return []membership.Member{m}
	}
	f := newFixture(t, a.HTTPAddr, implicit, member(), consul.Options{Deployment: "t-rp", BatchWindow: 50 * time.Millisecond})
	f.store.PutCluster(explicit, member(), nil)

	runtest.Eventually(t, 30*time.Second, "verdicts published under the separate name", func() error {
		return allPorts(client, "rp-web-vigil").are(29001)
	})
	if err := allPorts(client, "rp-web").are(29001); err != nil {
		t.Errorf("discovered service changed: %v", err)
	}
	entries, _, err := client.Health().Service("rp-web", "", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Node.Node == "vigil-t-rp" || len(e.Checks) != 1 || e.Checks[0].CheckID != "serfHealth" {
			t.Errorf("discovered instance carries vigil's writes: node %s checks %+v", e.Node.Node, e.Checks)
		}
	}
}
