package config

import (
	"fmt"
	"strings"
)

// finishClusters defaults and validates every cluster, then checks what
// must be unique across clusters.
func (c *Config) finishClusters(col *collector, o *options) {
	if len(c.Clusters) == 0 {
		// Like an empty file: a vigil that probes nothing is a wrong or
		// truncated file far more often than an intent, and one that
		// replaced a working configuration would take every cluster it
		// published away from its consumers.
		col.at("clusters", "at least one cluster is required (vigil has nothing to probe)")
		return
	}
	names := map[string]string{} // name -> field path of its first use
	eds := map[string]string{}
	for i := range c.Clusters {
		base := fmt.Sprintf("clusters[%d]", i)
		cl := &c.Clusters[i]
		c.finishCluster(col, o, base, cl)
		dupName := false
		if cl.Name != "" {
			if first, dup := names[cl.Name]; dup {
				dupName = true
				col.at(base+".name", "duplicate cluster name %q (first at %s)", cl.Name, where(col, first, base+".name"))
			} else {
				names[cl.Name] = base + ".name"
			}
		}
		if cl.EDSServiceName == "" || (dupName && cl.EDSServiceName == cl.Name) {
			continue
		}
		if first, dup := eds[cl.EDSServiceName]; dup {
			msg := fmt.Sprintf("EDS name %q is already used by %s", cl.EDSServiceName, where(col, first, base+".eds_service_name"))
			if !col.set(base + ".eds_service_name") {
				msg += " (eds_service_name defaults to the cluster name)"
			}
			col.at(base+".eds_service_name", "%s", msg)
		} else {
			eds[cl.EDSServiceName] = base
		}
	}
}

// where describes the location of field for a message about current:
// "clusters[0].name, line 4", naming the file when it differs.
func where(col *collector, field, current string) string {
	p := col.lookup(field)
	switch {
	case p.Line == 0:
		return field
	case p.File == col.lookup(current).File:
		return fmt.Sprintf("%s, line %d", field, p.Line)
	default:
		return fmt.Sprintf("%s, %s:%d", field, p.File, p.Line)
	}
}

func (c *Config) finishCluster(col *collector, o *options, base string, cl *Cluster) {
	f := func(key string) string { return base + "." + key }
	switch {
	case cl.Name == "":
		col.at(f("name"), "required")
	case !namePattern.MatchString(cl.Name):
		col.at(f("name"), "%q may only contain letters, digits, '.', '_' and '-'", cl.Name)
	}

	if cl.Dialect == "" {
		cl.Dialect = DefaultDialect
	} else if !o.knownDialect(cl.Dialect) {
		col.at(f("dialect"), "%s", o.dialectProblem(cl.Dialect))
	}
	if cl.InitialStatus == "" {
		cl.InitialStatus = c.Defaults.InitialStatus
	} else if !oneOf(cl.InitialStatus, initialStates) {
		col.at(f("initial_status"), "%s", enumMsg(cl.InitialStatus, initialStates))
	}
	if cl.MaxEjectionPercent == 0 && !col.set(f("max_ejection_percent")) {
		cl.MaxEjectionPercent = c.Defaults.MaxEjectionPercent
	} else {
		percent(col, f("max_ejection_percent"), cl.MaxEjectionPercent)
	}
	validateSettings(col, base, &cl.ProbeSettings)
	c.loadTLS(col, f("tls"), cl.TLS)

	if cl.Liveness == nil && cl.Readiness == nil {
		col.at(base, "needs a liveness or a readiness probe (or both)")
	}
	if cl.Liveness != nil {
		c.finishProbe(col, o, f("liveness"), cl.Liveness, cl)
	}
	if cl.Readiness != nil {
		c.finishProbe(col, o, f("readiness"), cl.Readiness, cl)
	}

	c.finishInstances(col, base, cl)
	if cl.Discovery != nil {
		if len(cl.Instances) > 0 || cl.InstancesFile != "" {
			col.at(f("discovery"), "cannot be combined with instances or instances_file")
		}
		switch k := cl.Discovery.Consul; {
		case k == nil:
			col.at(f("discovery"), "must name a source (consul)")
		case k.Service == "":
			col.at(f("discovery.consul.service"), "required")
		case c.Consul == nil:
			col.at(f("discovery.consul"), "needs the top-level consul block (its address) to reach Consul")
		}
	}

	if cl.EDSServiceName == "" {
		cl.EDSServiceName = cl.Name
	}
	if cl.LBPolicy == "" {
		cl.LBPolicy = DefaultLBPolicy
	} else if p := strings.ToUpper(cl.LBPolicy); oneOf(p, lbPolicies) {
		cl.LBPolicy = p
	} else {
		col.at(f("lb_policy"), "%s", enumMsg(cl.LBPolicy, lbPolicies))
	}
	positiveDuration(col, f("connect_timeout"), cl.ConnectTimeout)
	if cl.ConnectTimeout == 0 && !col.set(f("connect_timeout")) {
		cl.ConnectTimeout = DefaultConnectTimeout
	}
	if t := cl.HealthyPanicThreshold; t != nil && (*t < 0 || *t > 100) {
		col.at(f("healthy_panic_threshold"), "must be between 0 and 100 (percent)")
	}
	if cl.ConsulService == "" {
		cl.ConsulService = cl.Name
	} else if !namePattern.MatchString(cl.ConsulService) {
		col.at(f("consul_service"), "%q may only contain letters, digits, '.', '_' and '-'", cl.ConsulService)
	}
	for i, tag := range cl.ConsulTags {
		if strings.TrimSpace(tag) == "" {
			col.at(fmt.Sprintf("%s[%d]", f("consul_tags"), i), "must not be empty")
		}
	}
	for k := range cl.ConsulMeta {
		if k == "" {
			col.at(f("consul_meta"), "keys must not be empty")
		}
	}
}
