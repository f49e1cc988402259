package dialect

import (
	"bytes"

	"github.com/valyala/fastjson"

	"github.com/vigilhq/vigil/aggregator/probe"
	"github.com/vigilhq/vigil/membership"
)

// isHealthz recognises a /healthz or /readyz engine: an object with
// checks, a draining flag, or a status of ok or not_ready.
func isHealthz(v *fastjson.Value, status []byte) bool {
	return v.Type() == fastjson.TypeObject &&
		(v.Get("checks") != nil || v.Get("draining") != nil || string(status) == "ok" || string(status) == "not_ready")
}

// readHealthz reads /healthz and /readyz engines (seed 002):
// {"status":"ok"}, {"status":"ready","checks":{...}},
// 503 {"status":"not_ready","checks":{"queue":"unavailable"}} and
// {"status":"not_ready","draining":true}. Kubernetes' plain-text "ok" passes too.
func readHealthz(r *probe.Response, v *fastjson.Value, jsonErr error, b *builder) {
	if v == nil {
		if bytes.Equal(bytes.TrimSpace(r.Body), []byte("ok")) {
			b.codeOnly()
			b.say("ok")
			return
		}
		b.invalidJSON(jsonErr)
		return
	}
	status, ok := b.objectStatus(v, jsonErr)
	if !ok {
		return
	}
	draining := v.GetBool("draining")
	if draining {
		b.say(" draining")
	}
	if checks := v.GetObject("checks"); checks != nil {
		checks.Visit(func(name []byte, cv *fastjson.Value) {
			val := stringOf(cv)
			b.component(name, val, nil)
			if !bytes.Equal(val, okBytes) {
				b.detail("checks.", name, val)
			}
		})
	}
	switch string(status) {
	case "ok", "ready":
	case "degraded", "warn", "warning":
		b.degrade()
	case "not_ready", "unavailable", "error", "fail", "failed", "unhealthy":
		b.fail()
	case "":
		b.fail()
		b.say("no status field")
	}
	if !b.codeOK() {
		b.fail()
	}
	if draining { // a drain is a drain whatever the status code says
		b.outcome = membership.OutcomeDrain
	}
}

var okBytes = []byte("ok")

// stringOf returns a JSON string's bytes, or the raw JSON text of any other value.
func stringOf(v *fastjson.Value) []byte {
	if v == nil {
		return nil
	}
	if s, err := v.StringBytes(); err == nil {
		return s
	}
	switch v.Type() {
	case fastjson.TypeTrue:
		return trueBytes
	case fastjson.TypeFalse:
		return falseBytes
	case fastjson.TypeNull:
		return nullBytes
	}
	return otherBytes
}

var (
	trueBytes  = []byte("true")
	falseBytes = []byte("false")
	nullBytes  = []byte("null")
	otherBytes = []byte("?")
)
