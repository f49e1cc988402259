package consul

import (
	"strings"
	"testing"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/membership"
)

func TestServiceIDIsStableSafeAndUnique(t *testing.T) {
	cases := [][2]string{
		{"web", "10.0.0.1:8080"},
		{"web", "10.0.0.1_8080"},
		{"web", "pod/a b"},
		{"web", "pod_a_b"},
		{"a", "b:c"},
		{"a:b", "c"},
		{"web", strings.Repeat("x", 500)},
		{"web", strings.Repeat("x", 501)},
	}
	seen := map[string][2]string{}
	for _, c := range cases {
		id := ServiceID(c[0], c[1])
		if id != ServiceID(c[0], c[1]) {
			t.Errorf("ServiceID%v not stable", c)
		}
		// '~' only ever introduces the hash suffix, so hashed and plain IDs never meet.
		plain := strings.Replace(id, "~", "", 1)
		if sanitizeID(plain) != plain || len(id) > maxServiceID {
			t.Errorf("ServiceID%v = %q: unsafe or too long", c, id)
		}
		if prev, dup := seen[id]; dup {
			t.Errorf("ServiceID%v = ServiceID%v = %q", c, prev, id)
		}
		seen[id] = c
	}
	if got := ServiceID("web", "10.0.0.1:8080"); got != "vigil:web:10.0.0.1:8080" {
		t.Errorf("plain ID = %q, want it readable", got)
	}
}

func TestCheckStateFollowsPublishedStatus(t *testing.T) {
	cases := []struct {
		m            membership.Member
		status, want string
	}{
		{membership.Member{Status: membership.StatusHealthy}, consulapi.HealthPassing, "healthy:"},
		{membership.Member{Status: membership.StatusDegraded, Reason: "slow"}, consulapi.HealthWarning, "degraded: slow"},
		{membership.Member{Status: membership.StatusDraining, Reason: "shutdown"}, consulapi.HealthCritical, "draining: shutdown"},
		{membership.Member{Status: membership.StatusDraining, Override: &membership.Override{Reason: "by hand"}}, consulapi.HealthCritical, "draining: by hand"},
		{membership.Member{Status: membership.StatusUnhealthy, Reason: "HTTP 503"}, consulapi.HealthCritical, "unhealthy: HTTP 503"},
		{membership.Member{Status: membership.StatusUnknown}, consulapi.HealthCritical, "unknown: no probe result yet"},
		// Held: the status stays (and so does the check's), the output says why.
		{membership.Member{Status: membership.StatusHealthy, Reason: "readiness: 200 ok",
			Held: &membership.Hold{Cause: membership.HoldFailSafe, Reason: "fail-safe: readiness: connect: connection refused"}},
			consulapi.HealthPassing, "held: fail-safe: readiness: connect: connection refused"},
		{membership.Member{Status: membership.StatusDegraded, Held: &membership.Hold{Cause: membership.HoldMaxEjection}},
			consulapi.HealthWarning, "held: max_ejection_percent"},
	}
	for _, c := range cases {
		st, out := checkState(&c.m)
		if st != c.status || out != c.want {
			t.Errorf("%s %q: got %s %q, want %s %q", c.m.Status, c.m.Reason, st, out, c.status, c.want)
		}
	}
	long := membership.Member{Status: membership.StatusUnhealthy, Reason: strings.Repeat("é", 2000)}
	if _, out := checkState(&long); len(out) > maxReasonText+len("unhealthy: ") {
		t.Errorf("output not bounded: %d bytes", len(out))
	}
}
