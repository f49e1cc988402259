package upstreams

import (
	"maps"
	"slices"
	"sort"

	"github.com/vigilhq/vigil/config"
)

// FromConfig turns a finished configuration (one returned by config.Load or
// config.Parse, or one whose Finish returned nil) into fully resolved
// clusters, in configuration order. Nothing in the result aliases cfg.
func FromConfig(cfg *config.Config) []Cluster {
	out := make([]Cluster, 0, len(cfg.Clusters))
	for i := range cfg.Clusters {
		out = append(out, clusterFromConfig(&cfg.Clusters[i], cfg.Defaults.InitialStatus))
	}
	return out
}

func clusterFromConfig(c *config.Cluster, defaultInitial string) Cluster {
	initial := c.InitialStatus
	if initial == "" {
		initial = defaultInitial
	}
	cl := Cluster{
		Name:          c.Name,
		Liveness:      probeFromConfig(c.Liveness),
		Readiness:     probeFromConfig(c.Readiness),
		InitialStatus: InitialStatus(initial),
		XDS: XDSOptions{
			EDSServiceName: c.EDSServiceName,
			LBPolicy:       c.LBPolicy,
			ConnectTimeout: c.ConnectTimeout,
		},
		Consul: ConsulOptions{
			Service: c.ConsulService,
			Tags:    slices.Clone(c.ConsulTags),
			Meta:    maps.Clone(c.ConsulMeta),
		},
	}
	if c.HealthyPanicThreshold != nil {
		t := *c.HealthyPanicThreshold
		cl.XDS.HealthyPanicThreshold = &t
	}
	if d := c.Discovery; d != nil && d.Consul != nil {
		cl.Discovery = &ConsulDiscovery{
			Service:        d.Consul.Service,
			Tag:            d.Consul.Tag,
			HealthPortMeta: d.Consul.HealthPortMeta,
		}
	}
	for _, in := range c.Instances {
		cl.Instances = append(cl.Instances, instanceFromConfig(in, "config"))
	}
	for _, in := range c.FileInstances {
		cl.Instances = append(cl.Instances, instanceFromConfig(in, "file"))
	}
	return cl
}

func probeFromConfig(p *config.Probe) *Probe {
	if p == nil {
		return nil
	}
	out := &Probe{
		Kind:             ProbeKind(p.Kind),
		Scheme:           p.Scheme,
		Path:             p.Path,
		Port:             p.Port,
		Host:             p.Host,
		ExpectedStatuses: statusSet(p.ExpectedStatuses),
		MaxBodyBytes:     p.MaxBodyBytes,
		Dialect:          Dialect(p.Dialect),
		GRPCService:      p.GRPCService,
		Timing: Timing{
			Interval:           p.Interval,
			UnhealthyInterval:  p.UnhealthyInterval,
			Timeout:            p.Timeout,
			HealthyThreshold:   p.HealthyThreshold,
			UnhealthyThreshold: p.UnhealthyThreshold,
		},
	}
	if p.JitterPercent != nil {
		out.JitterPercent = *p.JitterPercent
	}
	if p.CEL != nil {
		out.CEL = CELRules{Pass: p.CEL.Pass, Drain: p.CEL.Drain, Degraded: p.CEL.Degraded}
	}
	if t := p.TLS; t != nil {
		out.TLS = &TLS{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile,
			CAPEM: slices.Clone(t.CAPEM), CertPEM: slices.Clone(t.CertPEM), KeyPEM: Secret(slices.Clone(t.KeyPEM)),
			ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	}
	keys := slices.Collect(maps.Keys(p.Headers))
	sort.Strings(keys)
	for _, k := range keys {
		out.Headers = append(out.Headers, [2]string{k, p.Headers[k]})
	}
	return out
}

// statusSet converts a validated status list; items that do not parse
// (impossible after validation) are skipped, and an empty result falls back
// to 200-299.
func statusSet(l config.StatusList) StatusSet {
	var set StatusSet
	for _, item := range l {
		lo, hi, err := config.ParseStatus(item)
		if err != nil {
			continue
		}
		set = append(set, StatusRange{Lo: lo, Hi: hi})
	}
	if len(set) == 0 {
		return slices.Clone(DefaultStatuses)
	}
	return set
}

func instanceFromConfig(in config.Instance, source string) Instance {
	out := Instance{
		ID:       in.ID,
		Address:  in.Address,
		Weight:   in.Weight,
		Region:   in.Region,
		Zone:     in.Zone,
		SubZone:  in.SubZone,
		Priority: in.Priority,
		Meta:     maps.Clone(in.Meta),
		Source:   source,
	}
	if out.ID == "" {
		out.ID = out.Address
	}
	if out.Weight == 0 {
		out.Weight = 1
	}
	return out
}
