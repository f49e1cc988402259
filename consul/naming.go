package consul

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// Meta keys vigil writes. Node and service meta keys share one namespace
// so that any of vigil's registrations can be recognised on its own.
const (
	MetaDeployment = upstreams.ConsulOwnerMeta // node and service meta: the owning deployment
	MetaCluster    = "vigil-cluster"           // service meta: the vigil cluster
	MetaInstance   = "vigil-instance"          // service meta: the instance ID within the cluster

	// NodeMetaExternal marks the node as external (no agent), the marker
	// consul-esm looks for.
	NodeMetaExternal = "external-node"
	// NodeMetaExternalProbe=false tells consul-esm not to ping the node nor
	// to reap it; the vigil check has no HTTP/TCP definition, so consul-esm
	// has nothing to run on it either.
	NodeMetaExternalProbe = "external-probe"

	checkName = "vigil"
)

const (
	maxMetaValue  = 512  // Consul's limit on a meta value
	maxServiceID  = 200  // keep IDs comfortably short for URLs and logs
	maxReasonText = 1024 // bound on a check output
)

// ServiceID is the Consul service ID of one instance of a vigil cluster.
// It is stable, unique per (cluster, instance) and limited to characters
// that are safe in Consul IDs and URL paths.
func ServiceID(cluster, instance string) string {
	raw := "vigil:" + cluster + ":" + instance
	clean := sanitizeID(raw)
	if clean == raw && !strings.Contains(cluster, ":") && len(clean) <= maxServiceID {
		return clean
	}
	// Sanitising or truncating could merge two IDs; a hash of the exact
	// pair keeps them apart.
	sum := sha256.Sum256([]byte(cluster + "\x00" + instance))
	if len(clean) > maxServiceID-9 {
		clean = clean[:maxServiceID-9]
	}
	return clean + "~" + hex.EncodeToString(sum[:4])
}

// CheckID is the ID of the vigil check attached to a service ID.
func CheckID(serviceID string) string { return serviceID + ":health" }

func sanitizeID(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '.', r == '_', r == '-', r == ':':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

func validMetaValue(v string) bool { return v != "" && len(v) <= maxMetaValue }

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) && len(s) > 0 {
		s = s[:len(s)-1]
	}
	return s
}

// checkState is the Consul check status and output that publish a member's
// status. The output always starts with the lower-case status and a colon,
// so a reader (and vigil's own reconcile) can tell a status change from a
// change of reason text. A held member (membership.Member.Held) keeps its
// status and says "held: <why>", so the change of word is written at once.
func checkState(m *membership.Member) (status, output string) {
	status, word, fallback := checkStatus(m.Status)
	if m.Held != nil {
		return status, withReason("held", truncateText(strings.TrimSpace(m.Held.Reason), maxReasonText), string(m.Held.Cause))
	}
	reason := truncateText(strings.TrimSpace(m.Reason), maxReasonText)
	if reason == "" && m.Status == membership.StatusDraining && m.Override != nil {
		reason = m.Override.Reason
	}
	return status, withReason(word, reason, fallback)
}

// checkStatus is the check status of a published status, the word its
// output starts with and the text shown when there is no reason.
func checkStatus(s membership.Status) (status, word, fallback string) {
	switch s {
	case membership.StatusHealthy:
		return consulapi.HealthPassing, "healthy", ""
	case membership.StatusDegraded:
		return consulapi.HealthWarning, "degraded", ""
	case membership.StatusDraining:
		return consulapi.HealthCritical, "draining", ""
	case membership.StatusUnhealthy:
		return consulapi.HealthCritical, "unhealthy", "failing probes"
	default:
		return consulapi.HealthCritical, "unknown", "no probe result yet"
	}
}

func withReason(prefix, reason, fallback string) string {
	if reason == "" {
		reason = fallback
	}
	if reason == "" {
		return prefix + ":"
	}
	return prefix + ": " + reason
}

// outputPrefix is the status word an output starts with.
func outputPrefix(output string) string {
	p, _, _ := strings.Cut(output, ":")
	return p
}
