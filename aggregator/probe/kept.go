package probe

import "github.com/vigilhq/vigil/upstreams"

// KeptConnections counts the connections a fleet keeps open when the fd
// budget lets it: one per instance address (an instance's probes with the
// same CheckerKey share one), for http and grpc probes; tcp probes keep
// none. Clusters whose instances are discovered count only the instances
// they hold now.
func KeptConnections(clusters []upstreams.Cluster) int {
	n := 0
	for i := range clusters {
		c := &clusters[i]
		for _, in := range c.Instances {
			var first string
			for _, p := range []*upstreams.Probe{c.Liveness, c.Readiness} {
				if p == nil || p.Kind == upstreams.KindTCP {
					continue
				}
				if key := CheckerKey(p, in.ProbeAddress(p)); key != first {
					first = key
					n++
				}
			}
		}
	}
	return n
}
