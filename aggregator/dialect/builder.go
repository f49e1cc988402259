package dialect

import (
	"strconv"

	"github.com/vigilhq/vigil/aggregator/probe"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/upstreams"
)

// builder assembles a verdict from byte slices that alias the response,
// and only allocates strings when the result differs from the previous one.
// What it keeps is bounded (see MaxComponents and MaxReasonBytes).
type builder struct {
	r        *probe.Response
	expected upstreams.StatusSet
	outcome  membership.Outcome
	reason   []byte
	comps    []compBytes
	omitted  int    // components past MaxComponents
	more     []byte // the message of the component that counts them
	sep      bool   // a separator is due before the next detail
}

// compBytes is a component's fields, each cut to its bound (cut[i] tells).
type compBytes struct {
	name, status, message []byte
	cut                   [3]bool
}

func (b *builder) reset(r *probe.Response, expected upstreams.StatusSet) {
	b.r, b.expected = r, expected
	b.outcome = membership.OutcomePass
	b.reason = b.reason[:0]
	b.comps = b.comps[:0]
	b.omitted = 0
	b.sep = false
}

func (b *builder) codeOK() bool { return b.expected.Contains(b.r.StatusCode) }

// worsen moves the outcome toward fail, never back.
func (b *builder) worsen(o membership.Outcome) {
	if o > b.outcome {
		b.outcome = o
	}
}

func (b *builder) fail()    { b.worsen(membership.OutcomeFail) }
func (b *builder) drain()   { b.worsen(membership.OutcomeDrain) }
func (b *builder) degrade() { b.worsen(membership.OutcomeDegraded) }

// status starts the reason with the HTTP status code.
func (b *builder) status() {
	if b.r.StatusCode != 0 {
		b.reason = itoa(b.reason, b.r.StatusCode)
		b.reason = append(b.reason, ' ')
	}
}

// say appends text to the reason.
func (b *builder) say(s string) { b.reason = appendCapped(b.reason, s) }

func (b *builder) sayBytes(s []byte) { b.reason = appendCapped(b.reason, s) }

// sayNumber appends a number to the reason.
func (b *builder) sayNumber(f float64) {
	var buf [32]byte
	b.sayBytes(strconv.AppendFloat(buf[:0], f, 'f', -1, 64))
}

// detail appends "prefix.name=value", comma separated after the first.
func (b *builder) detail(prefix string, name, value []byte) {
	if b.sep {
		b.say(", ")
	} else if len(b.reason) > 0 && b.reason[len(b.reason)-1] != ' ' {
		b.say(", ")
	}
	b.sep = true
	b.say(prefix)
	b.sayBytes(name)
	if len(value) > 0 {
		b.say("=")
		b.sayBytes(value)
	}
}

func (b *builder) component(name, status, message []byte) {
	if len(b.comps) >= MaxComponents {
		b.omitted++
		return
	}
	var c compBytes
	c.name, c.cut[0] = cut(name, maxNameBytes)
	c.status, c.cut[1] = cut(status, maxStatusBytes)
	c.message, c.cut[2] = cut(message, maxMessageBytes)
	b.comps = append(b.comps, c)
}

// finish returns prev itself when nothing changed, else a new verdict.
func (b *builder) finish(prev *Verdict) Verdict {
	reason := b.reason
	for len(reason) > 0 && (reason[len(reason)-1] == ' ' || reason[len(reason)-1] == ',') {
		reason = reason[:len(reason)-1]
	}
	reason = capReason(reason)
	if b.omitted > 0 {
		b.more = moreComponents(b.more, b.omitted)
		b.comps = append(b.comps, compBytes{name: omittedName, status: omittedStatus, message: b.more})
	}
	sameReason := string(reason) == prev.Reason
	sameComps := len(b.comps) == len(prev.Components)
	for i := 0; sameComps && i < len(b.comps); i++ {
		c, p := &b.comps[i], &prev.Components[i]
		sameComps = sameText(p.Name, c.name, c.cut[0]) && sameText(p.Status, c.status, c.cut[1]) && sameText(p.Message, c.message, c.cut[2])
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
			v.Components[i] = membership.Component{Name: text(c.name, c.cut[0]), Status: text(c.status, c.cut[1]),
				Message: text(c.message, c.cut[2])}
		}
	}
	return v
}
