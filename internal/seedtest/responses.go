package seedtest

import (
	"fmt"
	"net/http"
	"strings"
)

// Response is one HTTP response from a seed document.
type Response struct {
	Name        string
	Status      int
	ContentType string
	Headers     [][2]string // extra headers
	Body        string
}

// Raw renders the response as HTTP/1.1 bytes with a Content-Length.
func (r Response) Raw() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", r.Status, http.StatusText(r.Status))
	if r.ContentType != "" {
		fmt.Fprintf(&b, "content-type: %s\r\n", r.ContentType)
	}
	for _, h := range r.Headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	fmt.Fprintf(&b, "content-length: %d\r\ndate: Wed, 03 Sep 2025 13:42:45 GMT\r\n\r\n%s", len(r.Body), r.Body)
	return []byte(b.String())
}

const (
	jsonCT = "application/json"
	textCT = "text/plain; charset=utf-8"
)

// The seed documents' responses, by name.
var (
	// Seed 000/001: NVIDIA Dynamo.
	DynamoFrontendLive = Response{"dynamo-frontend-live", 200, jsonCT, nil,
		`{"message":"Service is live","status":"live"}`}
	DynamoFrontendNoWorkers = Response{"dynamo-frontend-no-workers", 200, jsonCT, nil,
		`{"instances":[],"message":"No endpoints available","status":"unhealthy"}`}
	DynamoFrontendHealthy = Response{"dynamo-frontend-healthy", 200, jsonCT, nil, `{
  "endpoints": [
    "dyn://dynamo.backend.generate"
  ],
  "instances": [
    {"component": "backend", "endpoint": "clear_kv_blocks", "instance_id": 7587888160958628000, "namespace": "dynamo",
     "transport": {"nats_tcp": "dynamo_backend.clear_kv_blocks-694d98147d54be25"}},
    {"component": "backend", "endpoint": "generate", "instance_id": 7587888160958628000, "namespace": "dynamo",
     "transport": {"nats_tcp": "dynamo_backend.generate-694d98147d54be25"}},
    {"component": "backend", "endpoint": "load_metrics", "instance_id": 7587888160958628000, "namespace": "dynamo",
     "transport": {"nats_tcp": "dynamo_backend.load_metrics-694d98147d54be25"}}
  ],
  "status": "healthy"
}`}
	DynamoWorkerNotReady = Response{"dynamo-worker-notready", 503, textCT, nil, `{
  "endpoints": {
    "generate": "notready"
  },
  "status": "notready",
  "uptime": {
    "nanos": 313803539,
    "secs": 12
  }
}`}
	DynamoWorkerReady = Response{"dynamo-worker-ready", 200, textCT, nil, `{
  "endpoints": {
    "clear_kv_blocks": "ready",
    "generate": "ready",
    "load_metrics": "ready"
  },
  "status": "ready",
  "uptime": {
    "nanos": 356504530,
    "secs": 18
  }
}`}

	// Seed 002: the /healthz + /readyz engine.
	HealthzLive     = Response{"healthz-live", 200, jsonCT, nil, `{"status":"ok"}`}
	HealthzReady    = Response{"healthz-ready", 200, jsonCT, nil, `{"status":"ready","checks":{"store":"ok"}}`}
	HealthzNotReady = Response{"healthz-not-ready", 503, jsonCT, nil,
		`{"status":"not_ready","checks":{"store":"ok","queue":"unavailable"}}`}
	HealthzDraining = Response{"healthz-draining", 503, jsonCT, nil, `{"status":"not_ready","draining":true}`}

	// Seed 003: NativeLink /status.
	NativeLinkHealthy = Response{"nativelink-healthy", 200, jsonCT, nil, `[
  {"namespace": "nativelink", "component": "stores/MAIN_CAS", "status": {"Ok": {"message": "Store operational"}}},
  {"namespace": "nativelink", "component": "scheduler/MAIN_SCHEDULER", "status": {"Ok": {"message": "Scheduler running"}}}
]`}
	NativeLinkFailed = Response{"nativelink-failed", 503, jsonCT, nil, `[
  {"namespace": "nativelink", "component": "stores/S3_STORE",
   "status": {"Failed": {"message": "Connection timeout", "error": "Failed to connect to S3"}}}
]`}
	NativeLinkTimeout = Response{"nativelink-timeout", 503, jsonCT, nil, `[
  {"namespace": "nativelink", "component": "stores/MAIN_CAS", "status": {"Ok": {"message": "Store operational"}}},
  {"namespace": "nativelink", "component": "stores/REDIS", "status": {"Timeout": {"duration_seconds": 5.2}}}
]`}
	NativeLinkEmpty    = Response{"nativelink-empty", 200, jsonCT, nil, `[]`}
	NativeLinkInternal = Response{"nativelink-500", 500, textCT, nil, `Failed to serialize health status`}
	// NativeLink's implementation also reports Initializing and Warning.
	NativeLinkInitializing = Response{"nativelink-initializing", 503, jsonCT, nil, `[
  {"namespace": "nativelink", "component": "workers/LOCAL", "status": {"Initializing": {"message": "Connecting to scheduler"}}}
]`}
	NativeLinkWarning = Response{"nativelink-warning", 200, jsonCT, nil, `[
  {"namespace": "nativelink", "component": "stores/MAIN_CAS", "status": {"Ok": {"message": "Store operational"}}},
  {"namespace": "nativelink", "component": "stores/FS_CACHE", "status": {"Warning": {"message": "Disk 91% full"}}}
]`}

	// Seed 004: AMSDAL /api/probes/liveness/ and /readiness/.
	AMSDALSuccess = Response{"amsdal-success", 200, jsonCT, nil, `{
    "status": "success",
    "details": [
        {"status": "success", "service": "ConnectionsHealthchecker", "message": "Connection is alive"}
    ]
}`}
	AMSDALError = Response{"amsdal-error", 503, jsonCT, nil, `{
    "status": "error",
    "details": [
        {"status": "success", "service": "ConnectionsHealthchecker", "message": "Connection is alive"},
        {"status": "error", "service": "RedisHealthchecker", "message": "Redis check failed: connection refused"}
    ]
}`}
)

// All lists every seed response.
var All = []Response{
	DynamoFrontendLive, DynamoFrontendNoWorkers, DynamoFrontendHealthy, DynamoWorkerNotReady, DynamoWorkerReady,
	HealthzLive, HealthzReady, HealthzNotReady, HealthzDraining,
	NativeLinkHealthy, NativeLinkFailed, NativeLinkTimeout, NativeLinkEmpty, NativeLinkInternal,
	NativeLinkInitializing, NativeLinkWarning,
	AMSDALSuccess, AMSDALError,
}
