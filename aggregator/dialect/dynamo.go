package dialect

import (
	"bytes"
	"errors"

	"github.com/valyala/fastjson"

	"github.com/vigilhq/vigil/aggregator/probe"
)

var errNotObject = errors.New("expected a JSON object")

// isDynamo recognises Dynamo's frontend and workers by their status words.
func isDynamo(v *fastjson.Value, status []byte) bool {
	if v.Type() != fastjson.TypeObject {
		return false
	}
	switch string(status) {
	case "live", "healthy", "unhealthy", "ready", "notready":
		return true
	}
	return false
}

// readDynamo reads NVIDIA Dynamo's frontend (/live, /health) and worker
// system-status server. The frontend answers 200 {"status":"unhealthy"} while
// no workers are registered: that is not ready. Workers answer 503
// "notready" / 200 "ready" with text/plain bodies that hold JSON; each entry
// of "endpoints" becomes a component.
func readDynamo(r *probe.Response, v *fastjson.Value, jsonErr error, b *builder) {
	status, ok := b.objectStatus(v, jsonErr)
	if !ok {
		return
	}
	switch eps := v.Get("endpoints"); {
	case eps == nil:
	case eps.Type() == fastjson.TypeObject: // worker: {"generate":"ready"}
		o, _ := eps.Object()
		o.Visit(func(name []byte, ev *fastjson.Value) {
			val := stringOf(ev)
			b.component(name, val, nil)
			if !bytes.Equal(val, readyBytes) {
				b.detail("endpoints.", name, val)
			}
		})
	case eps.Type() == fastjson.TypeArray: // frontend: ["dyn://dynamo.backend.generate"]
		for _, ev := range eps.GetArray() {
			b.component(stringOf(ev), registeredBytes, nil)
		}
	}
	switch string(status) {
	case "live", "ready", "healthy":
	case "unhealthy", "notready":
		b.fail()
		if msg := v.GetStringBytes("message"); len(msg) > 0 {
			b.say(": ")
			b.sayBytes(msg)
		}
	default:
		b.fail()
		b.say(" (unknown dynamo status)")
	}
	if !b.codeOK() {
		b.fail()
	}
}

var (
	readyBytes      = []byte("ready")
	registeredBytes = []byte("registered")
)
