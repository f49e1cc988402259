package probe

import (
	"time"
)

// Response is the raw outcome of one probe. Body and Headers are valid only
// until the Scratch they were read into is reused.
type Response struct {
	// Err is set when no usable response arrived: connect failure, timeout,
	// malformed HTTP, body over the limit. Reason-worthy text, no stack.
	Err error
	// StatusCode is the HTTP status (0 for tcp; for grpc, 200 when SERVING,
	// 503 otherwise, with GRPCStatus holding the health enum name).
	StatusCode int
	GRPCStatus string
	// Body is the response body, at most the probe's max_body_bytes.
	Body []byte
	// ContentType is the response's Content-Type header value.
	ContentType string
	// Location is the Location header of a 3xx response (redirects are not followed).
	Location string
	// ImmediateFail is true when the response carried
	// x-envoy-immediate-health-check-fail.
	ImmediateFail bool
	// Headers holds every response header (names lower-cased) only when the
	// checker was built with CollectHeaders; nil otherwise.
	Headers map[string]string
	// Latency is from the start of the request to the end of the body.
	Latency time.Duration
}

// Scratch is reusable memory for one probe at a time. Workers keep one each
// (or take one from a pool) so probes allocate nothing in steady state.
type Scratch struct {
	Buf []byte
}

// maxKeptScratch is the largest read buffer kept from one probe to the next.
const maxKeptScratch = 256 << 10

// Trim lets go of a buffer that a large answer grew beyond what is worth
// keeping between probes.
func (s *Scratch) Trim() {
	if cap(s.Buf) > maxKeptScratch {
		s.Buf = nil
	}
}

// Checker owns the persistent connection to one instance address (one
// kind, scheme and host:port). Liveness and readiness probes of an instance
// that go to the same address share it; an instance's probes never overlap,
// so Check is never called concurrently on one Checker.
type Checker interface {
	// Check runs one prepared request that must finish by deadline, filling
	// resp (reset by the caller) and using scratch for buffers.
	Check(req *Request, deadline time.Time, scratch *Scratch, resp *Response)
	// Close releases the connection.
	Close() error
}
