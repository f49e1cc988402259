package dialect

import (
	"bytes"

	"github.com/valyala/fastjson"

	"github.com/vigilhq/vigil/aggregator/probe"
)

// isAMSDAL recognises AMSDAL's probes: an object with details and a
// status of success or error.
func isAMSDAL(v *fastjson.Value, status []byte) bool {
	return v.Type() == fastjson.TypeObject && v.Get("details") != nil &&
		(string(status) == "success" || string(status) == "error")
}

// readAMSDAL reads AMSDAL's /api/probes/liveness/ and /readiness/:
// {"status":"success"|"error","details":[{"status","service","message"}]}.
func readAMSDAL(r *probe.Response, v *fastjson.Value, jsonErr error, b *builder) {
	status, ok := b.objectStatus(v, jsonErr)
	if !ok {
		return
	}
	for _, d := range v.GetArray("details") {
		svc, st, msg := d.GetStringBytes("service"), d.GetStringBytes("status"), d.GetStringBytes("message")
		b.component(svc, st, msg)
		if !bytes.Equal(st, successBytes) {
			b.detail("", svc, nil)
			if len(msg) > 0 {
				b.say(": ")
				b.sayBytes(msg)
			}
		}
	}
	if !bytes.Equal(status, successBytes) {
		b.fail()
	}
	if !b.codeOK() {
		b.fail()
	}
}

var successBytes = []byte("success")
