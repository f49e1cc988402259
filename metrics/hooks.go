package metrics

// StreamOpened counts a new xDS stream.
func (m *Metrics) StreamOpened() { m.xdsStreams.Inc() }

// StreamClosed counts the end of an xDS stream.
func (m *Metrics) StreamClosed() { m.xdsStreams.Dec() }

// Pushed counts one xDS response of the given resource type URL.
func (m *Metrics) Pushed(typeURL string) { m.xdsPushes.WithLabelValues(xdsTypeLabel(typeURL)).Inc() }

// NACK counts one xDS response a client rejected.
func (m *Metrics) NACK(typeURL string) { m.xdsNACKs.WithLabelValues(xdsTypeLabel(typeURL)).Inc() }

// ConsulWrite counts one write to the Consul catalog; result is a short
// fixed word: "ok", "error", "cas_conflict" or "fenced" (see ConsulWriteResults).
func (m *Metrics) ConsulWrite(result string) { m.consulWrites.WithLabelValues(result).Inc() }

// ConsulBreakerState records the Consul circuit breaker's state by its
// gobreaker name: "closed" (0), "half-open" (1) or "open" (2). Any other
// name is taken as open.
func (m *Metrics) ConsulBreakerState(state string) {
	switch state {
	case "closed":
		m.consulBreaker.Set(0)
	case "half-open":
		m.consulBreaker.Set(1)
	default:
		m.consulBreaker.Set(2)
	}
}
