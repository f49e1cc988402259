package dialect

import (
	"errors"

	"github.com/valyala/fastjson"

	"github.com/vigilhq/vigil/aggregator/probe"
)

var errNotArray = errors.New("expected a JSON array of components")

// isNativeLink recognises NativeLink's /status: a JSON array.
func isNativeLink(v *fastjson.Value, _ []byte) bool { return v.Type() == fastjson.TypeArray }

// readNativeLink reads NativeLink's /status: a JSON array of
// {"namespace","component","status":{"Ok"|"Failed"|"Timeout"|"Initializing"|"Warning":{...}}}.
// Failed, Timeout and Initializing fail (naming the components), Warning
// degrades, an empty array passes, a non-2xx status fails.
func readNativeLink(r *probe.Response, v *fastjson.Value, jsonErr error, b *builder) {
	if v == nil {
		if !b.codeOK() {
			b.codeOnly()
			return
		}
		b.invalidJSON(jsonErr)
		return
	}
	items, err := v.Array()
	if err != nil {
		b.invalidJSON(errNotArray)
		return
	}
	b.status()
	if len(items) == 0 {
		b.say("no components")
	}
	bad := 0
	for _, it := range items {
		name := it.GetStringBytes("component")
		var kind []byte
		var inner *fastjson.Value
		if st := it.GetObject("status"); st != nil {
			st.Visit(func(k []byte, iv *fastjson.Value) {
				if kind == nil {
					kind, inner = k, iv
				}
			})
		} else if s := it.GetStringBytes("status"); s != nil {
			kind = s
		}
		msg := inner.GetStringBytes("message")
		b.component(name, kind, msg)
		switch string(kind) {
		case "Ok":
			continue
		case "Warning":
			b.degrade()
		default: // Failed, Timeout, Initializing, or anything unknown
			b.fail()
		}
		if bad > 0 {
			b.say(", ")
		}
		bad++
		b.sayBytes(name)
		b.say(" ")
		b.sayBytes(kind)
		if len(msg) > 0 {
			b.say(": ")
			b.sayBytes(msg)
		}
		if e := inner.GetStringBytes("error"); len(e) > 0 {
			b.say(" (")
			b.sayBytes(e)
			b.say(")")
		}
		if d := inner.Get("duration_seconds"); d != nil {
			f, _ := d.Float64()
			b.say(" after ")
			b.sayNumber(f)
			b.say("s")
		}
	}
	if bad == 0 && len(items) > 0 {
		b.say("all ")
		b.sayNumber(float64(len(items)))
		b.say(" components ok")
	}
	if !b.codeOK() {
		b.fail()
	}
}
