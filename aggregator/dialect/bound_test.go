package dialect

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vigilhq/vigil/aggregator/probe"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// checkBounded fails unless v keeps at most MaxComponents components (plus
// the one counting the rest), each field and the reason within bounds and
// valid UTF-8 (a cut never splits a character).
func checkBounded(t *testing.T, what string, v Verdict) {
	t.Helper()
	if len(v.Reason) > MaxReasonBytes || !utf8.ValidString(v.Reason) {
		t.Errorf("%s: reason of %d bytes (valid UTF-8: %v), want at most %d", what, len(v.Reason), utf8.ValidString(v.Reason), MaxReasonBytes)
	}
	if len(v.Components) > MaxComponents+1 {
		t.Errorf("%s: %d components, want at most %d", what, len(v.Components), MaxComponents+1)
	}
	for _, c := range v.Components {
		if len(c.Name) > maxNameBytes || len(c.Status) > maxStatusBytes || len(c.Message) > maxMessageBytes ||
			!utf8.ValidString(c.Name+c.Status+c.Message) {
			t.Errorf("%s: component of %d/%d/%d bytes, want at most %d/%d/%d, valid UTF-8", what,
				len(c.Name), len(c.Status), len(c.Message), maxNameBytes, maxStatusBytes, maxMessageBytes)
		}
	}
}

// A body with a hundred failing checks, each with a long name and value
// (multi-byte characters straddling the cut): the verdict keeps the first
// MaxComponents, cut, plus one saying how many more there were; the reason
// is cut too. The same answer again reuses that verdict.
func TestVerdictsAreBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"status":"not_ready","checks":{`)
	for i := range 100 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%s-%03d":"%s"`, strings.Repeat("é", 100), i, strings.Repeat("ü", 50))
	}
	b.WriteString(`}}`)
	r := &probe.Response{StatusCode: 503, Body: []byte(b.String())}
	e := newEval(t, upstreams.DialectHealthz)
	v := e.Evaluate(r)
	checkBounded(t, "healthz", v)
	if v.Outcome != membership.OutcomeFail || !strings.HasPrefix(v.Reason, "503 not_ready, checks.éé") || !strings.HasSuffix(v.Reason, "…") {
		t.Errorf("verdict %v %q", v.Outcome, v.Reason)
	}
	if len(v.Components) != MaxComponents+1 {
		t.Fatalf("%d components, want %d", len(v.Components), MaxComponents+1)
	}
	if c := v.Components[0]; !strings.HasSuffix(c.Name, "…") || !strings.HasSuffix(c.Status, "…") {
		t.Errorf("first component %+v: long fields not cut", c)
	}
	if last := v.Components[MaxComponents]; last != (membership.Component{Name: "…", Status: "omitted", Message: "68 more components not kept"}) {
		t.Errorf("last component %+v", last)
	}
	// Compared cut for cut, the same answer is the same verdict: nothing new
	// is built (BenchmarkParse shows it allocates nothing).
	if again := e.Evaluate(r); &again.Components[0] != &v.Components[0] || &again.Components[MaxComponents] != &v.Components[MaxComponents] {
		t.Error("an unchanged answer made a new verdict")
	}
}

// Every dialect's reason is bounded, whatever builds it: NativeLink's list
// of failures with durations, a probe error, a CEL rule's error.
func TestReasonsAreBoundedInEveryDialect(t *testing.T) {
	var b strings.Builder
	b.WriteString(`[`)
	for i := range 500 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"component":"c%d","status":{"Failed":{"message":"boom","duration_seconds":%d.5}}}`, i, i)
	}
	b.WriteString(`]`)
	checkBounded(t, "nativelink", newEval(t, upstreams.DialectNativeLink).Evaluate(&probe.Response{StatusCode: 200, Body: []byte(b.String())}))

	long := &probe.Response{Err: errors.New(strings.Repeat("x", 10000))}
	checkBounded(t, "probe error", newEval(t, upstreams.DialectAuto).Evaluate(long))
	cel, err := NewFactory().New(&upstreams.Probe{Kind: upstreams.KindHTTP, Dialect: upstreams.DialectCEL,
		CEL: upstreams.CELRules{Pass: `status == 200`}})
	if err != nil {
		t.Fatal(err)
	}
	checkBounded(t, "cel probe error", cel.Evaluate(long))
}
