package dialect

import (
	"testing"
	"time"

	"github.com/vigilhq/vigil/aggregator/probe"
	"github.com/vigilhq/vigil/internal/seedtest"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// probeOnce probes addr once with vigil's own HTTP prober, failing the test
// on a transport error.
func probeOnce(t *testing.T, addr string, p *upstreams.Probe) probe.Response {
	t.Helper()
	req, err := probe.NewRequest(p, addr, probe.RequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checker, err := probe.NewChecker(upstreams.KindHTTP, "http", addr, probe.CheckerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer checker.Close() //nolint:errcheck // test cleanup
	var resp probe.Response
	checker.Check(req, time.Now().Add(2*time.Second), &probe.Scratch{}, &resp)
	if resp.Err != nil {
		t.Fatalf("probe %s: %v", addr, resp.Err)
	}
	return resp
}

// TestSeedResponsesOverRealHTTP serves every seed response from a real TCP
// server, byte for byte, probes it with vigil's own HTTP prober and checks
// the verdict, in the response's own dialect and in auto.
func TestSeedResponsesOverRealHTTP(t *testing.T) {
	for _, c := range seedCases {
		srv := seedtest.NewServer(t, c.seed)
		for _, d := range []upstreams.Dialect{c.dialect, upstreams.DialectAuto} {
			p := &upstreams.Probe{Kind: upstreams.KindHTTP, Scheme: "http", Path: "/", Dialect: d,
				ExpectedStatuses: upstreams.DefaultStatuses, MaxBodyBytes: 64 << 10}
			resp := probeOnce(t, srv.Addr(), p)
			ev, err := NewFactory().New(p)
			if err != nil {
				t.Fatal(err)
			}
			if resp.ContentType != c.seed.ContentType {
				t.Errorf("%s: content-type %q", c.seed.Name, resp.ContentType)
			}
			got := ev.Evaluate(&resp)
			if d == upstreams.DialectAuto && c.seed.Name == seedtest.NativeLinkInternal.Name {
				checkVerdict(t, "auto "+c.seed.Name, got, membership.OutcomeFail, "500", nil)
				continue
			}
			checkVerdict(t, string(d)+" "+c.seed.Name, got, c.outcome, c.reason, c.comps)
		}
	}
}
