package dialect

import (
	"strings"

	"github.com/valyala/fastjson"

	"github.com/vigilhq/vigil/aggregator/probe"
)

// autoReader picks how the auto dialect reads one response: with the first
// registered dialect that recognises the parsed body. A body that declares
// itself JSON but does not parse fails, as in every JSON dialect; any other
// body (plain text, an unknown shape) is judged by status code.
func autoReader(r *probe.Response, v *fastjson.Value) reader {
	if v == nil {
		if declaresJSON(r) {
			return readInvalidJSON
		}
		return readStatus
	}
	var status []byte
	switch v.Type() {
	case fastjson.TypeObject:
		status = v.GetStringBytes("status")
	case fastjson.TypeArray:
	default:
		return readStatus
	}
	for i := range registry {
		if d := &registry[i]; d.recognise != nil && d.recognise(v, status) {
			return d.read
		}
	}
	return readStatus
}

// declaresJSON reports whether a response says its body is JSON: by its
// content type (application/json or a +json type), or by a body that opens
// an object or an array.
func declaresJSON(r *probe.Response) bool {
	ct := r.ContentType
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	if strings.EqualFold(ct, "application/json") || len(ct) > 5 && strings.EqualFold(ct[len(ct)-5:], "+json") {
		return true
	}
	for _, c := range r.Body {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{', '[':
			return true
		}
		return false
	}
	return false
}

// readInvalidJSON fails a body that should be JSON and is not.
func readInvalidJSON(_ *probe.Response, _ *fastjson.Value, jsonErr error, b *builder) {
	b.invalidJSON(jsonErr)
}
