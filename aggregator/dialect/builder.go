package dialect

import (
	"github.com/vigilhq/vigil/aggregator/probe"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// builder assembles a verdict from byte slices that alias the response,
// and only allocates strings when the result differs from the previous one.
type builder struct {
	r        *probe.Response
	expected upstreams.StatusSet
	outcome  membership.Outcome
	reason   []byte
	comps    []compBytes
	sep      bool // a separator is due before the next detail
}

type compBytes struct{ name, status, message []byte }

func (b *builder) reset(r *probe.Response, expected upstreams.StatusSet) {
	b.r, b.expected = r, expected
	b.outcome = membership.OutcomePass
	b.reason = b.reason[:0]
	b.comps = b.comps[:0]
	b.sep = false
}

func (b *builder) codeOK() bool { return b.expected.Contains(b.r.StatusCode) }

// worsen moves the outcome toward fail, never back.
func (b *builder) worsen(o membership.Outcome) {
	if o > b.outcome {
		b.outcome = o
	}
}

func (b *builder) fail()      { b.worsen(membership.OutcomeFail) }
func (b *builder) drain()     { b.worsen(membership.OutcomeDrain) }
func (b *builder) degrade()   { b.worsen(membership.OutcomeDegraded) }
func (b *builder) pass() bool { return b.outcome == membership.OutcomePass }

// status starts the reason with the HTTP status code.
func (b *builder) status() {
	if b.r.StatusCode != 0 {
		b.reason = itoa(b.reason, b.r.StatusCode)
		b.reason = append(b.reason, ' ')
	}
}

// say appends text to the reason.
func (b *builder) say(s string) { b.reason = append(b.reason, s...) }

func (b *builder) sayBytes(s []byte) { b.reason = append(b.reason, s...) }

// detail appends "prefix.name=value", comma separated after the first.
func (b *builder) detail(prefix string, name, value []byte) {
	if b.sep {
		b.reason = append(b.reason, ", "...)
	} else if len(b.reason) > 0 && b.reason[len(b.reason)-1] != ' ' {
		b.reason = append(b.reason, ", "...)
	}
	b.sep = true
	b.reason = append(b.reason, prefix...)
	b.reason = append(b.reason, name...)
	if len(value) > 0 {
		b.reason = append(b.reason, '=')
		b.reason = append(b.reason, value...)
	}
}

func (b *builder) component(name, status, message []byte) {
	b.comps = append(b.comps, compBytes{name, status, message})
}

// finish returns prev itself when nothing changed, else a new verdict.
func (b *builder) finish(prev *Verdict) Verdict {
	reason := b.reason
	for len(reason) > 0 && (reason[len(reason)-1] == ' ' || reason[len(reason)-1] == ',') {
		reason = reason[:len(reason)-1]
	}
	sameReason := string(reason) == prev.Reason
	sameComps := len(b.comps) == len(prev.Components)
	for i := 0; sameComps && i < len(b.comps); i++ {
		c, p := &b.comps[i], &prev.Components[i]
		sameComps = string(c.name) == p.Name && string(c.status) == p.Status && string(c.message) == p.Message
	}
	if b.outcome == prev.Outcome && sameReason && sameComps && (prev.Reason != "" || len(reason) == 0) {
		return *prev
	}
	v := Verdict{Outcome: b.outcome, Reason: prev.Reason, Components: prev.Components}
	if !sameReason {
		v.Reason = string(reason)
	}
	if !sameComps {
		v.Components = make([]membership.Component, len(b.comps))
		for i, c := range b.comps {
			v.Components[i] = membership.Component{Name: string(c.name), Status: string(c.status), Message: string(c.message)}
		}
	}
	return v
}
