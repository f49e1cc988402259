package dialect

import (
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/valyala/fastjson"

	"github.com/vigilhq/vigil/aggregator/probe"
	"github.com/vigilhq/vigil/upstreams"
)

// Evaluator reads the responses of one probe of one instance. It remembers
// its previous verdict so that an unchanged answer costs no allocation.
// Evaluate is never called concurrently on one Evaluator.
type Evaluator interface {
	Evaluate(r *probe.Response) Verdict
}

// reader is one dialect's rule set. v is the parsed JSON body, or nil with
// jsonErr set when the body is not JSON.
type reader func(r *probe.Response, v *fastjson.Value, jsonErr error, b *builder)

// Factory builds evaluators, compiling each CEL rule set once and sharing
// it between every instance that uses it.
type Factory struct {
	mu  sync.Mutex
	cel map[upstreams.CELRules]*celProgram
}

// NewFactory returns an empty Factory.
func NewFactory() *Factory { return &Factory{cel: make(map[upstreams.CELRules]*celProgram)} }

// New returns an evaluator for probe p.
func (f *Factory) New(p *upstreams.Probe) (Evaluator, error) {
	e := &evaluator{expected: p.ExpectedStatuses, kind: p.Kind}
	if len(e.expected) == 0 {
		e.expected = upstreams.DefaultStatuses
	}
	switch p.Kind {
	case upstreams.KindGRPC, upstreams.KindTCP:
		return e, nil
	}
	d, ok := lookup(p.Dialect)
	if !ok {
		return nil, fmt.Errorf("unknown dialect %q", p.Dialect)
	}
	if d.custom != nil {
		return d.custom(f, p, e.expected)
	}
	e.read, e.wantJSON = d.read, d.json
	return e, nil
}

func (f *Factory) compile(rules upstreams.CELRules) (*celProgram, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.cel[rules]; ok {
		return p, nil
	}
	p, err := compileCEL(rules)
	if err != nil {
		return nil, err
	}
	f.cel[rules] = p
	return p, nil
}

// evaluator applies the rules every dialect shares, then its own reader.
type evaluator struct {
	kind     upstreams.ProbeKind
	expected upstreams.StatusSet
	read     reader // nil: auto, which picks a reader per response
	wantJSON bool
	prev     Verdict
}

// scratch is the per-evaluation memory, pooled so that idle instances hold none.
type scratch struct {
	parser fastjson.Parser
	b      builder
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func (e *evaluator) Evaluate(r *probe.Response) Verdict {
	s := scratchPool.Get().(*scratch)
	b := &s.b
	b.reset(r, e.expected)
	switch {
	case r.Err != nil:
		b.fail()
		b.say(r.Err.Error())
	case r.ImmediateFail:
		b.drain()
		b.status()
		b.say("x-envoy-immediate-health-check-fail")
	case e.kind == upstreams.KindTCP:
		b.say("connected")
	case e.kind == upstreams.KindGRPC:
		if r.GRPCStatus != "SERVING" {
			b.fail()
		}
		b.say(r.GRPCStatus)
	default:
		var v *fastjson.Value
		var jsonErr error
		if e.wantJSON {
			if looksLikeJSON(r.Body) {
				v, jsonErr = s.parser.ParseBytes(r.Body)
			} else {
				jsonErr = errNotJSON
			}
		}
		read := e.read
		if read == nil {
			read = autoReader(r, v)
		}
		read(r, v, jsonErr, b)
	}
	e.prev = b.finish(&e.prev)
	if len(r.Body) <= maxPooledBody {
		scratchPool.Put(s)
	} // else its parser holds the values of a large body: let it go
	return e.prev
}

// maxPooledBody is the largest body whose parser memory is kept for the
// next evaluation; a parser that read a bigger one is dropped, so a few
// multi-megabyte answers do not pin their parse trees.
const maxPooledBody = 256 << 10

// readStatus: the expected status code passes, the body is ignored.
func readStatus(r *probe.Response, _ *fastjson.Value, _ error, b *builder) {
	b.codeOnly()
}

// codeOnly judges by status code alone, naming redirects that were not followed.
func (b *builder) codeOnly() {
	b.status()
	if !b.codeOK() {
		b.fail()
		if b.r.StatusCode >= 300 && b.r.StatusCode < 400 && b.r.Location != "" {
			b.say("redirect to ")
			b.say(b.r.Location)
			b.say(" (not followed)")
		}
	}
}

// invalidJSON fails a response whose body a JSON dialect cannot read. When
// the status code already fails, the code (and any redirect) is the reason.
func (b *builder) invalidJSON(err error) {
	if !b.codeOK() {
		b.codeOnly()
		return
	}
	b.fail()
	b.status()
	b.say("invalid JSON body")
	if err != nil {
		b.say(": ")
		msg := err.Error()
		if len(msg) > 80 {
			msg = msg[:80]
		}
		b.say(msg)
	}
}

var errNotJSON = errors.New("body is not JSON")

// looksLikeJSON is a cheap first-byte check that spares the parser (and its
// error allocation) on text bodies.
func looksLikeJSON(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{', '[', '"', 't', 'f', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return true
		}
		return false
	}
	return false
}

// objectStatus starts a reader of JSON-object bodies: it fails a body that
// is not an object and otherwise opens the reason with "<code> <status>".
// ok is false when the verdict is already decided.
func (b *builder) objectStatus(v *fastjson.Value, jsonErr error) (status []byte, ok bool) {
	if v == nil {
		b.invalidJSON(jsonErr)
		return nil, false
	}
	if v.Type() != fastjson.TypeObject {
		b.invalidJSON(errNotObject)
		return nil, false
	}
	status = v.GetStringBytes("status")
	b.status()
	b.sayBytes(status)
	return status, true
}

func itoa(dst []byte, n int) []byte { return strconv.AppendInt(dst, int64(n), 10) }
