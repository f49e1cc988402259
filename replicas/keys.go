package replicas

import (
	"fmt"
	"hash/fnv"
	"net/url"
	"strings"
)

// keys is the Consul KV layout of one deployment:
//
//	vigil/<deployment>/replicas/<id>                 registry, held by each replica's session
//	vigil/<deployment>/writer                        the catalog writer lock
//	vigil/<deployment>/drains/<cluster>/<instance>   shared manual drains
//
// Names are path-escaped, so a "/" inside one cannot add a level.
type keys struct {
	root string // vigil/<deployment>/
}

func newKeys(deployment string) keys {
	return keys{root: "vigil/" + url.PathEscape(deployment) + "/"}
}

func (k keys) replicas() string         { return k.root + "replicas/" }
func (k keys) replica(id string) string { return k.replicas() + url.PathEscape(id) }
func (k keys) writer() string           { return k.root + "writer" }
func (k keys) drains() string           { return k.root + "drains/" }
func (k keys) drainCluster(c string) string {
	return k.drains() + url.PathEscape(c) + "/"
}
func (k keys) drain(cluster, instance string) string {
	return k.drainCluster(cluster) + url.PathEscape(instance)
}

// parseDrain reads the cluster and instance back from a drain key.
func (k keys) parseDrain(key string) (cluster, instance string, err error) {
	rest, ok := strings.CutPrefix(key, k.drains())
	if !ok {
		return "", "", fmt.Errorf("key %q is not under %s", key, k.drains())
	}
	c, i, ok := strings.Cut(rest, "/")
	if !ok || c == "" || i == "" || strings.Contains(i, "/") {
		return "", "", fmt.Errorf("key %q is not %s<cluster>/<instance>", key, k.drains())
	}
	if cluster, err = url.PathUnescape(c); err == nil {
		instance, err = url.PathUnescape(i)
	}
	if err != nil {
		return "", "", fmt.Errorf("key %q: %w", key, err)
	}
	return cluster, instance, nil
}

// checkID is the agent TTL check behind a replica's session. Agent check
// IDs go into URL paths, so only safe characters are kept; a hash of the
// real names keeps two sanitized names apart.
func checkID(deployment, id string) string {
	h := fnv.New32a()
	h.Write([]byte(deployment))
	h.Write([]byte{0})
	h.Write([]byte(id))
	return fmt.Sprintf("vigil-replica-%s-%s-%08x", safeName(deployment), safeName(id), h.Sum32())
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}
