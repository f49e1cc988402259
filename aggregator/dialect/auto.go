package dialect

import (
	"github.com/valyala/fastjson"

	"github.com/vigilhq/vigil/aggregator/probe"
)

// readAuto picks the dialect from the body's shape on each response. An
// unknown shape, or a body that is not JSON, is judged by status code.
func readAuto(r *probe.Response, v *fastjson.Value, jsonErr error, b *builder) {
	switch shapeOf(v) {
	case shapeNativeLink:
		readNativeLink(r, v, jsonErr, b)
	case shapeAMSDAL:
		readAMSDAL(r, v, jsonErr, b)
	case shapeHealthz:
		readHealthz(r, v, jsonErr, b)
	case shapeDynamo:
		readDynamo(r, v, jsonErr, b)
	default:
		readStatus(r, v, jsonErr, b)
	}
}

type shape uint8

const (
	shapeUnknown shape = iota
	shapeNativeLink
	shapeAMSDAL
	shapeHealthz
	shapeDynamo
)

func shapeOf(v *fastjson.Value) shape {
	if v == nil {
		return shapeUnknown
	}
	switch v.Type() {
	case fastjson.TypeArray:
		return shapeNativeLink
	case fastjson.TypeObject:
	default:
		return shapeUnknown
	}
	status := string(v.GetStringBytes("status"))
	switch {
	case v.Get("details") != nil && (status == "success" || status == "error"):
		return shapeAMSDAL
	case v.Get("checks") != nil || v.Get("draining") != nil || status == "ok" || status == "not_ready":
		return shapeHealthz
	}
	switch status {
	case "live", "healthy", "unhealthy", "ready", "notready":
		return shapeDynamo
	}
	return shapeUnknown
}
