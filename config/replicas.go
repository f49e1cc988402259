package config

import (
	"net"
	"os"
	"time"
)

// Defaults of the replicas block.
const (
	DefaultReplicaSessionTTL = 10 * time.Second
	DefaultReplicaQuorum     = "majority"
)

var quorums = []string{"majority", "any", "all"}

// Replicas runs vigil as one of several replicas coordinated through
// Consul (the consul block's agent): every replica probes every instance,
// they share their verdicts and publish the same view merged by quorum,
// and one at a time writes the Consul catalog. docs/replicas.md.
type Replicas struct {
	Enabled bool `yaml:"enabled"`
	// ID names this replica; unique among the replicas. [the hostname]
	ID string `yaml:"id"`
	// Advertise is where the other replicas (and people) reach this
	// replica's admin API, host:port. [admin.listen]
	Advertise string `yaml:"advertise"`
	// SessionTTL: a replica that stops renewing its Consul session is gone
	// after this long. [10s]
	SessionTTL time.Duration `yaml:"session_ttl"`
	// Quorum is how many live replicas must see a probe failing (or
	// passing again) for it to count: majority, any or all. [majority]
	Quorum string `yaml:"quorum"`
}

// ReplicasOn reports whether the configuration runs vigil as a replica.
func (c *Config) ReplicasOn() bool { return c.Replicas != nil && c.Replicas.Enabled }

// applyReplicasDefaults fills the replicas block when it is enabled.
func (c *Config) applyReplicasDefaults() {
	r := c.Replicas
	if r == nil || !r.Enabled {
		return
	}
	if r.ID == "" {
		if h, err := os.Hostname(); err == nil {
			r.ID = h
		}
	}
	if r.Advertise == "" {
		r.Advertise = c.Admin.Listen
	}
	if r.SessionTTL == 0 && !c.set("replicas.session_ttl") {
		r.SessionTTL = DefaultReplicaSessionTTL
	}
	if r.Quorum == "" {
		r.Quorum = DefaultReplicaQuorum
	}
}

func (c *Config) set(field string) bool { _, ok := c.pos[field]; return ok }

func (c *Config) validateReplicas(col *collector) {
	r := c.Replicas
	if r == nil || !r.Enabled {
		return
	}
	if c.Consul == nil {
		col.at("replicas", "needs the top-level consul block: replicas find each other, share drains and take the catalog writer lock through Consul")
	}
	switch {
	case r.ID == "":
		col.at("replicas.id", "required (the hostname could not be read)")
	case !namePattern.MatchString(r.ID):
		col.at("replicas.id", "%q may only contain letters, digits, '.', '_' and '-'", r.ID)
	}
	from := ""
	if !col.set("replicas.advertise") {
		from = " (taken from admin.listen)"
	}
	if msg := hostPortProblem(r.Advertise); msg != "" {
		col.at("replicas.advertise", "%s%s: the other replicas dial this address; set replicas.advertise", msg, from)
	} else if host, _, _ := net.SplitHostPort(r.Advertise); net.ParseIP(host).IsUnspecified() {
		col.at("replicas.advertise", "%q%s is not an address the other replicas can dial: set replicas.advertise to this host's address",
			r.Advertise, from)
	}
	if isSet(col, "replicas.session_ttl", r.SessionTTL != 0) && r.SessionTTL < time.Second {
		col.at("replicas.session_ttl", "must be at least 1s")
	}
	if !oneOf(r.Quorum, quorums) {
		col.at("replicas.quorum", "%s", enumMsg(r.Quorum, quorums))
	}
}
