package dialect

import (
	"testing"

	"github.com/vigilhq/vigil/internal/seedtest"
	"github.com/vigilhq/vigil/upstreams"
)

// BenchmarkParse reads each seed body in its dialect, as the prober does on
// every probe of a steady instance.
func BenchmarkParse(b *testing.B) {
	for _, c := range seedCases {
		r := responseOf(b, c.seed)
		r.Headers = nil
		b.Run(c.seed.Name, func(b *testing.B) {
			e := newEval(b, c.dialect)
			e.Evaluate(r)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				e.Evaluate(r)
			}
		})
	}
}

// BenchmarkParseAuto is the default dialect on the Dynamo worker body.
func BenchmarkParseAuto(b *testing.B) {
	r := responseOf(b, seedtest.DynamoWorkerReady)
	e := newEval(b, upstreams.DialectAuto)
	b.ReportAllocs()
	for b.Loop() {
		e.Evaluate(r)
	}
}
