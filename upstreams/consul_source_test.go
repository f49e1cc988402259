package upstreams

import (
	"io"
	"log/slog"
	"testing"

	consulapi "github.com/hashicorp/consul/api"
)

func TestConsulInstancesSkipVigilAndBadEntries(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	node := &consulapi.Node{Node: "n1", Address: "10.0.0.1"}
	vigilNode := &consulapi.Node{Node: "vigil-x", Address: "127.0.0.1", Meta: map[string]string{ConsulOwnerMeta: "x"}}
	entries := []*consulapi.ServiceEntry{
		{Node: node, Service: &consulapi.AgentService{ID: "b", Port: 81, Meta: map[string]string{"hp": "9090"}, Weights: consulapi.AgentWeights{Passing: 3}}},
		{Node: node, Service: &consulapi.AgentService{ID: "a", Address: "10.0.0.2", Port: 80}},
		{Node: vigilNode, Service: &consulapi.AgentService{ID: "vigil:web:x", Port: 80}},                                      // vigil's node
		{Node: node, Service: &consulapi.AgentService{ID: "marked", Port: 80, Meta: map[string]string{ConsulOwnerMeta: "y"}}}, // vigil's service meta
		{Node: node, Service: &consulapi.AgentService{ID: "noport"}},                                                          // unusable
		{Node: node, Service: &consulapi.AgentService{ID: "badmeta", Port: 82, Meta: map[string]string{"hp": "70000"}}},       // port ignored
		nil,
	}
	got := consulInstances(&ConsulDiscovery{Service: "web", HealthPortMeta: "hp"}, entries, log)
	want := []struct {
		id, addr  string
		probePort int
		weight    uint32
	}{
		{"n1/a", "10.0.0.2:80", 0, 0},
		{"n1/b", "10.0.0.1:81", 9090, 3},
		{"n1/badmeta", "10.0.0.1:82", 0, 0},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d instances %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.ID != w.id || g.Address != w.addr || g.ProbePort != w.probePort || g.Weight != w.weight || g.Source != "consul" {
			t.Errorf("instance %d = %+v, want %+v", i, g, w)
		}
	}
	if addr := got[1].ProbeAddress(&Probe{Port: 7000}); addr != "10.0.0.1:9090" {
		t.Errorf("ProbeAddress with a per-instance probe port = %s, want 10.0.0.1:9090", addr)
	}
	if addr := got[0].ProbeAddress(&Probe{Port: 7000}); addr != "10.0.0.2:7000" {
		t.Errorf("ProbeAddress with the probe's port = %s, want 10.0.0.2:7000", addr)
	}
}
