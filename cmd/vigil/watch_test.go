package main

import (
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/consul/consultest"
	"github.com/vigilhq/vigil/xds/xdstest"
)

// sighting is one whole view of a cluster a consumer was given: an EDS
// assignment (SotW or delta: either carries the cluster's whole endpoint
// list) or a Consul ?passing answer.
type sighting struct {
	at      time.Time
	source  string // "sotw", "delta" or "consul"
	cluster string
	version string            // EDS: the version (its prefix names the vigil process); consul: ""
	health  map[string]string // address -> EDS health status; consul: the passing addresses, "HEALTHY"
	held    map[string]string // EDS: address -> held_reason of the endpoints vigil holds (metadata "held")
}

// sightings collects what the watchers were given, in arrival order.
type sightings struct {
	mu  sync.Mutex
	all []sighting
}

func (s *sightings) add(v sighting) {
	s.mu.Lock()
	s.all = append(s.all, v)
	s.mu.Unlock()
}

// since returns the sightings that arrived at or after t.
func (s *sightings) since(t time.Time) []sighting {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sighting
	for _, v := range s.all {
		if !v.at.Before(t) {
			out = append(out, v)
		}
	}
	return out
}

// first is the oldest sighting of cluster from source at or after t.
func (s *sightings) first(source, cluster string, t time.Time) (sighting, bool) {
	for _, v := range s.since(t) {
		if v.source == source && v.cluster == cluster {
			return v, true
		}
	}
	return sighting{}, false
}

// latest is the newest sighting of cluster from source, and whether there is one.
func (s *sightings) latest(source, cluster string) (sighting, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.all) - 1; i >= 0; i-- {
		if v := s.all[i]; v.source == source && v.cluster == cluster {
			return v, true
		}
	}
	return sighting{}, false
}

// watchEDS runs a state-of-the-world and a delta ADS client watching the
// assignments of clusters at addr until the test ends, as Envoy does:
// each reconnects whenever its stream ends (a restart), presenting what it
// holds, and every assignment each receives is a sighting.
func watchEDS(t *testing.T, addr string, clusters []string, seen *sightings) {
	conn := xdstest.Dial(t, addr)
	node := &corev3.Node{Id: "restart-test", Cluster: "test"}
	record := func(u xdstest.Update) {
		for _, a := range u.Assignments {
			seen.add(sighting{at: u.At, source: u.Source, cluster: a.Cluster, version: a.Version, health: a.Health, held: a.Held})
		}
		for _, name := range u.Removed {
			seen.add(sighting{at: u.At, source: u.Source, cluster: name, health: map[string]string{}})
		}
	}
	xdstest.WatchSotW(t, conn, node, clusters, record)
	xdstest.WatchDelta(t, conn, node, clusters, record)
}

// watchPassing follows Consul's ?passing answers for services with
// blocking queries until the test ends; every answer is a sighting.
func watchPassing(t *testing.T, client *consulapi.Client, services []string, seen *sightings) {
	for _, svc := range services {
		consultest.WatchPassing(t, client, svc, func(at time.Time, passing []string) {
			health := map[string]string{}
			for _, addr := range passing {
				health[addr] = "HEALTHY"
			}
			seen.add(sighting{at: at, source: "consul", cluster: svc, health: health})
		})
	}
}
