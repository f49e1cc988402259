package fleet

import (
	"hash/fnv"
	"net/http"
	"strconv"
	"time"
)

// Content types the simulated products send.
const (
	ctJSON = "application/json"
	ctText = "text/plain; charset=utf-8"
)

// Bodies as the seed documents show them, in compact form (the seed's
// content-length values are those of the compact encodings).
var (
	frontendLive     = []byte(`{"message":"Service is live","status":"live"}`)
	frontendNotReady = []byte(`{"instances":[],"message":"No endpoints available","status":"unhealthy"}`)

	healthzLive     = []byte(`{"status":"ok"}`)
	healthzReady    = []byte(`{"status":"ready","checks":{"store":"ok"}}`)
	healthzNotReady = []byte(`{"status":"not_ready","checks":{"store":"ok","queue":"unavailable"}}`)
	healthzDraining = []byte(`{"status":"not_ready","draining":true}`)

	nativeLinkReady = []byte(`[{"namespace":"nativelink","component":"stores/MAIN_CAS","status":{"Ok":{"message":"Store operational"}}},` +
		`{"namespace":"nativelink","component":"scheduler/MAIN_SCHEDULER","status":{"Ok":{"message":"Scheduler running"}}}]`)
	nativeLinkFailed = []byte(`[{"namespace":"nativelink","component":"stores/S3_STORE","status":{"Failed":{"message":"Connection timeout","error":"Failed to connect to S3"}}}]`)
	nativeLinkInit   = []byte(`[{"namespace":"nativelink","component":"stores/MAIN_CAS","status":{"Initializing":{"message":"Store initializing"}}},` +
		`{"namespace":"nativelink","component":"scheduler/MAIN_SCHEDULER","status":{"Ok":{"message":"Scheduler running"}}}]`)
	nativeLinkDegraded = []byte(`[{"namespace":"nativelink","component":"stores/MAIN_CAS","status":{"Ok":{"message":"Store operational"}}},` +
		`{"namespace":"nativelink","component":"stores/S3_STORE","status":{"Warning":{"message":"High latency to S3"}}}]`)

	amsdalOK    = []byte(`{"status":"success","details":[{"status":"success","service":"ConnectionsHealthchecker","message":"Connection is alive"}]}`)
	amsdalError = []byte(`{"status":"error","details":[{"status":"error","service":"ConnectionsHealthchecker","message":"Connection is not alive"}]}`)

	statusOK          = []byte("ok")
	notFoundBody      = []byte("404 page not found\n")
	notAllowedBody    = []byte("method not allowed\n")
	statusUnavailable = []byte("unavailable")
)

// response is one probe answer.
type response struct {
	code  int
	ctype string
	body  []byte
	drain bool // add x-envoy-immediate-health-check-fail: true
}

// role is what a path asks about.
type role int

const (
	roleNone role = iota
	roleLive
	roleReady
)

// route maps a request path to the role it plays for the instance's format.
func (in *instance) route(path []byte) role {
	switch {
	case len(path) == 0:
		return roleNone
	case string(path) == in.ready: // NativeLink serves both from /status: readiness wins
		return roleReady
	case string(path) == in.live:
		if in.format == FormatDynamoWorker { // /live and /health return the same information
			return roleReady
		}
		return roleLive
	}
	return roleNone
}

// answer builds the response of inst in state st (never dead or slow: the
// connection loop resolves those) to a probe with role r. A body rendered
// per request (the worker's uptime) is appended to scratch[:0].
func answer(inst *instance, r role, st State, now time.Time, scratch []byte) response {
	if r == roleLive {
		switch inst.format {
		case FormatDynamoFrontend:
			return response{code: http.StatusOK, ctype: ctJSON, body: frontendLive}
		case FormatHealthz:
			return response{code: http.StatusOK, ctype: ctJSON, body: healthzLive}
		case FormatAMSDAL:
			return response{code: http.StatusOK, ctype: ctJSON, body: amsdalOK}
		case FormatStatus:
			return response{code: http.StatusOK, ctype: ctText, body: statusOK}
		}
	}
	ready := st == StateReady || st == StateDegraded
	drain := st == StateDraining
	switch inst.format {
	case FormatDynamoFrontend:
		switch {
		case ready:
			return response{code: http.StatusOK, ctype: ctJSON, body: inst.frontendReady}
		case drain:
			return response{code: http.StatusServiceUnavailable, ctype: ctJSON, body: frontendNotReady, drain: true}
		}
		return response{code: http.StatusOK, ctype: ctJSON, body: frontendNotReady} // yes, 200
	case FormatDynamoWorker:
		up := now.Sub(inst.startedAt())
		if ready {
			return response{code: http.StatusOK, ctype: ctText, body: appendWorkerBody(scratch[:0], true, up)}
		}
		return response{code: http.StatusServiceUnavailable, ctype: ctText, body: appendWorkerBody(scratch[:0], false, up), drain: drain}
	case FormatHealthz:
		switch {
		case ready:
			return response{code: http.StatusOK, ctype: ctJSON, body: healthzReady}
		case drain:
			return response{code: http.StatusServiceUnavailable, ctype: ctJSON, body: healthzDraining}
		}
		return response{code: http.StatusServiceUnavailable, ctype: ctJSON, body: healthzNotReady}
	case FormatNativeLink:
		switch {
		case st == StateDegraded:
			return response{code: http.StatusOK, ctype: ctJSON, body: nativeLinkDegraded}
		case ready:
			return response{code: http.StatusOK, ctype: ctJSON, body: nativeLinkReady}
		case !drain && inst.ordinal%2 == 1: // every second NativeLink instance is still initializing
			return response{code: http.StatusServiceUnavailable, ctype: ctJSON, body: nativeLinkInit}
		}
		return response{code: http.StatusServiceUnavailable, ctype: ctJSON, body: nativeLinkFailed, drain: drain}
	case FormatAMSDAL:
		if ready {
			return response{code: http.StatusOK, ctype: ctJSON, body: amsdalOK}
		}
		return response{code: http.StatusServiceUnavailable, ctype: ctJSON, body: amsdalError, drain: drain}
	case FormatStatus:
		if ready {
			return response{code: http.StatusOK, ctype: ctText, body: statusOK}
		}
		return response{code: http.StatusServiceUnavailable, ctype: ctText, body: statusUnavailable, drain: drain}
	}
	return response{code: http.StatusNotFound, ctype: ctText, body: notFoundBody}
}

// appendWorkerBody appends the Dynamo system status server's body with a
// real uptime to b.
func appendWorkerBody(b []byte, ready bool, up time.Duration) []byte {
	if up < 0 {
		up = 0
	}
	if ready {
		b = append(b, `{"endpoints":{"clear_kv_blocks":"ready","generate":"ready","load_metrics":"ready"},"status":"ready","uptime":{"nanos":`...)
	} else {
		b = append(b, `{"endpoints":{"generate":"notready"},"status":"notready","uptime":{"nanos":`...)
	}
	b = strconv.AppendInt(b, int64(up%time.Second), 10)
	b = append(b, `,"secs":`...)
	b = strconv.AppendInt(b, int64(up/time.Second), 10)
	return append(b, `}}`...)
}

// frontendReadyBody is the Dynamo frontend's /health once a worker has
// registered; the worker's instance id is derived from the instance ID, and
// the NATS subjects end in its hex form, as in the seed.
func frontendReadyBody(id string) []byte {
	h := fnv.New64a()
	h.Write([]byte(id))
	iid := h.Sum64()&(1<<62-1) | 1<<62 // 19 decimal and 16 hex digits, like the seed's
	dec := strconv.FormatUint(iid, 10)
	hex := strconv.FormatUint(iid, 16)
	b := make([]byte, 0, 640)
	b = append(b, `{"endpoints":["dyn://dynamo.backend.generate"],"instances":[`...)
	for i, ep := range []string{"clear_kv_blocks", "generate", "load_metrics"} {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"component":"backend","endpoint":"`...)
		b = append(b, ep...)
		b = append(b, `","instance_id":`...)
		b = append(b, dec...)
		b = append(b, `,"namespace":"dynamo","transport":{"nats_tcp":"dynamo_backend.`...)
		b = append(b, ep...)
		b = append(b, '-')
		b = append(b, hex...)
		b = append(b, `"}}`...)
	}
	return append(b, `],"status":"healthy"}`...)
}
