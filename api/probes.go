package api

import (
	"net/http"
	"sync"
	"sync/atomic"
)

// readiness holds vigil's own readiness checks and the draining flag.
type readiness struct {
	mu        sync.Mutex
	checks    []readinessCheck
	draining  atomic.Bool
	lastReady atomic.Bool
}

type readinessCheck struct {
	name string
	fn   func() (ok bool, detail string)
}

// AddReadinessCheck adds a check that /readyz runs on every request; it
// must be fast and must not block. A check added again under the same
// name replaces the earlier one. In the checks map a passing check shows
// "ok" and a failing one its detail (or "unavailable"): keep details short
// and free of secrets, since /readyz is unauthenticated.
func (s *Server) AddReadinessCheck(name string, fn func() (ok bool, detail string)) {
	s.ready.mu.Lock()
	defer s.ready.mu.Unlock()
	for i := range s.ready.checks {
		if s.ready.checks[i].name == name {
			s.ready.checks[i].fn = fn
			return
		}
	}
	s.ready.checks = append(s.ready.checks, readinessCheck{name: name, fn: fn})
}

// SetDraining makes /readyz answer 503 with "draining": true from now on,
// whatever the checks say. Call it as soon as shutdown begins.
func (s *Server) SetDraining() {
	if !s.ready.draining.Swap(true) {
		s.log.Info("readiness: draining, /readyz now answers 503")
	}
}

type healthBody struct {
	Status string `json:"status"`
}

type readyBody struct {
	Status   string            `json:"status"`
	Draining bool              `json:"draining,omitempty"`
	Checks   map[string]string `json:"checks"`
}

func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, healthBody{Status: "ok"})
}

func (s *Server) handleReadyz(w http.ResponseWriter, _ *http.Request) {
	s.ready.mu.Lock()
	checks := append([]readinessCheck(nil), s.ready.checks...)
	s.ready.mu.Unlock()

	body := readyBody{Status: "ready", Checks: make(map[string]string, len(checks))}
	ok := true
	for _, c := range checks {
		pass, detail := c.fn()
		switch {
		case pass:
			body.Checks[c.name] = "ok"
		case detail != "":
			body.Checks[c.name] = detail
			ok = false
		default:
			body.Checks[c.name] = "unavailable"
			ok = false
		}
	}
	if s.ready.draining.Load() {
		body.Draining = true
		ok = false
	}
	if prev := s.ready.lastReady.Swap(ok); prev != ok {
		s.log.Info("readiness changed", "ready", ok, "draining", body.Draining, "checks", body.Checks)
	}
	if !ok {
		body.Status = "not_ready"
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// failSafeReady is the fail_safe check: vigil is not ready while its
// fail-safe holds, since it suspects its own network.
func (s *Server) failSafeReady() (bool, string) {
	if fs := s.opts.FailSafe(); fs.Holding {
		return false, "holding: " + fs.Reason
	}
	return true, "ok"
}
