package probe

// Request is a probe prepared once per (instance, probe): for HTTP, the
// exact request bytes. (Filled in by the transport work.)
type Request struct{}
