package consul

import (
	"maps"
	"slices"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// desired is what vigil wants the catalog to hold for one instance.
type desired struct {
	id       string // service ID
	cluster  string
	instance string
	spec     *upstreams.Cluster
	address  string
	weight   uint32
	status   string // Consul check status
	output   string // Consul check output
}

func newDesired(snap *membership.ClusterSnapshot, m *membership.Member) *desired {
	status, output := checkState(m)
	return &desired{
		id:       ServiceID(snap.Name, m.ID),
		cluster:  snap.Name,
		instance: m.ID,
		spec:     snap.Spec,
		address:  m.Address,
		weight:   m.Weight,
		status:   status,
		output:   output,
	}
}

func (d *desired) equal(o *desired) bool {
	return *d == *o
}

// service is the catalog registration of the instance.
func (d *desired) service(deployment string) consulapi.AgentService {
	host, port := upstreams.Instance{Address: d.address}.HostPort()
	meta := make(map[string]string, len(d.spec.Consul.Meta)+3)
	maps.Copy(meta, d.spec.Consul.Meta)
	meta[MetaDeployment] = deployment
	meta[MetaCluster] = d.cluster
	meta[MetaInstance] = truncateText(d.instance, maxMetaValue)
	passing := int(d.weight)
	if passing <= 0 {
		passing = 1
	}
	return consulapi.AgentService{
		ID:      d.id,
		Service: d.spec.ConsulServiceName(),
		Tags:    slices.Clone(d.spec.Consul.Tags),
		Meta:    meta,
		Address: host,
		Port:    port,
		Weights: consulapi.AgentWeights{Passing: passing, Warning: 1},
	}
}

// check is the vigil check of the instance, to be written with CAS against
// modifyIndex (0: create only if absent).
func (d *desired) check(node string, modifyIndex uint64, deployment string) consulapi.HealthCheck {
	return consulapi.HealthCheck{
		Node:        node,
		CheckID:     CheckID(d.id),
		Name:        checkName,
		Notes:       "published by vigil deployment " + deployment + " (cluster " + d.cluster + "); do not edit",
		Status:      d.status,
		Output:      d.output,
		ServiceID:   d.id,
		ModifyIndex: modifyIndex,
	}
}

// publishable reports whether vigil registers a cluster's instances. A
// cluster discovered from Consul is only registered under an explicitly
// configured service name that differs from the discovered one: the
// discovered registrations belong to their agents, and a second entry under
// the same name would hand every instance out twice.
func publishable(spec *upstreams.Cluster) bool {
	if spec.Discovery == nil {
		return true
	}
	return spec.Consul.Service != "" && spec.Consul.Service != spec.Discovery.Service
}

// known is what vigil last saw of (or wrote to) the catalog for one instance.
type known struct {
	svc        *consulapi.AgentService // nil: not registered
	checkIndex uint64                  // ModifyIndex of the vigil check; 0: absent
	status     string
	output     string
	outputAt   time.Time // vigil's last write of the output; zero: none by this process
}

// sameService reports whether the catalog entry has what vigil wants.
func sameService(have, want *consulapi.AgentService) bool {
	return have.Service == want.Service &&
		have.Address == want.Address &&
		have.Port == want.Port &&
		have.Weights == want.Weights &&
		slices.Equal(emptyNil(have.Tags), emptyNil(want.Tags)) &&
		maps.Equal(have.Meta, want.Meta)
}

func emptyNil(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
