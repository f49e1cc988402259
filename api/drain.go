package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/vigilhq/vigil/membership"
)

const (
	maxBodyBytes   = 64 << 10
	maxReasonLen   = 512
	defaultReason  = "manual drain"
	overrideLogMsg = "manual override"
	// maxTTL is the longest drain ttl accepted: past a month a drain is
	// meant to last until undrained, which leaving ttl out says.
	maxTTL     = 30 * 24 * time.Hour
	maxTTLText = "720h (30 days)"
)

// drainRequest is the optional body of the drain calls.
type drainRequest struct {
	Reason string `json:"reason"`
	TTL    string `json:"ttl"` // Go duration ("10m"); empty: until undrained
}

type instanceOverrideResult struct {
	Cluster  string               `json:"cluster"`
	Instance string               `json:"instance"`
	Override *membership.Override `json:"override"`
}

type clusterOverrideResult struct {
	Cluster   string               `json:"cluster"`
	Instances []string             `json:"instances"` // the instances changed
	Override  *membership.Override `json:"override"`
}

// requestError is a drain call's body that cannot be used, with the
// status to answer. It is not an error value: handlers answer it at once.
type requestError struct {
	status int
	msg    string
}

func badRequest(format string, args ...any) *requestError {
	return &requestError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// readOverride builds the override a drain call asks for: 413 for a body
// over maxBodyBytes, 400 for anything else wrong with it (including data
// after the JSON object and a ttl over maxTTL).
func (s *Server) readOverride(w http.ResponseWriter, r *http.Request) (*membership.Override, *requestError) {
	var req drainRequest
	const want = `want {"reason": "...", "ttl": "10m"}`
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	if err == nil {
		// One JSON object and nothing after it but whitespace.
		if _, next := dec.Token(); !errors.Is(next, io.EOF) {
			if next == nil || !errors.As(next, new(*http.MaxBytesError)) {
				return nil, badRequest("bad body: %s: data after the JSON object", want)
			}
			err = next
		}
	}
	if tooLarge := new(http.MaxBytesError); errors.As(err, &tooLarge) {
		return nil, &requestError{status: http.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("body larger than %d bytes: %s", tooLarge.Limit, want)}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, badRequest("bad body: %s: %v", want, err)
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if len(req.Reason) > maxReasonLen {
		return nil, badRequest("reason longer than %d bytes", maxReasonLen)
	}
	if req.Reason == "" {
		req.Reason = defaultReason
	}
	now := s.opts.Now()
	o := &membership.Override{Reason: req.Reason, By: who(r), Since: now}
	if req.TTL != "" {
		ttl, err := time.ParseDuration(req.TTL)
		switch {
		case err != nil || ttl <= 0:
			return nil, badRequest("bad ttl %q: want a positive duration such as \"10m\"", req.TTL)
		case ttl > maxTTL:
			return nil, badRequest("ttl %q is longer than the maximum, %s; leave ttl out to drain until undrained", req.TTL, maxTTLText)
		}
		o.Expires = now.Add(ttl)
	}
	return o, nil
}

// canOverride answers 503 when no aggregator is wired.
func (s *Server) canOverride(w http.ResponseWriter) bool {
	if s.opts.Aggregator == nil {
		writeError(w, http.StatusServiceUnavailable, "overrides are unavailable: no aggregator")
		return false
	}
	return true
}

func (s *Server) handleDrainInstance(w http.ResponseWriter, r *http.Request) {
	name, id := r.PathValue("name"), r.PathValue("id")
	if !s.canOverride(w) || !s.memberExists(w, name, id) {
		return
	}
	o, bad := s.readOverride(w, r)
	if bad != nil {
		writeError(w, bad.status, bad.msg)
		return
	}
	// Persist first: once the call answers, the drain survives a restart.
	if s.opts.Overrides != nil {
		if err := s.opts.Overrides.Put(name, id, *o); err != nil {
			s.log.Error("persisting override failed", "cluster", name, "instance", id, "err", err)
			writeError(w, http.StatusInternalServerError, "could not persist the override")
			return
		}
	}
	if err := s.opts.Aggregator.SetOverride(name, id, o); err != nil {
		s.forget(name, id)
		s.overrideFailed(w, name, id, err)
		return
	}
	s.log.Info(overrideLogMsg, "action", "drain", "cluster", name, "instance", id, "by", o.By, "reason", o.Reason, "expires", expiry(o))
	writeJSON(w, http.StatusOK, instanceOverrideResult{Cluster: name, Instance: id, Override: o})
}

func (s *Server) handleUndrainInstance(w http.ResponseWriter, r *http.Request) {
	name, id := r.PathValue("name"), r.PathValue("id")
	if !s.canOverride(w) {
		return
	}
	// Forget the persisted drain even if the instance is gone from the
	// config, so it cannot come back with it.
	if s.opts.Overrides != nil {
		if err := s.opts.Overrides.Delete(name, id); err != nil {
			s.log.Error("deleting persisted override failed", "cluster", name, "instance", id, "err", err)
			writeError(w, http.StatusInternalServerError, "could not delete the persisted override")
			return
		}
	}
	if !s.memberExists(w, name, id) {
		return
	}
	if err := s.opts.Aggregator.SetOverride(name, id, nil); err != nil {
		s.overrideFailed(w, name, id, err)
		return
	}
	s.log.Info(overrideLogMsg, "action", "undrain", "cluster", name, "instance", id, "by", who(r))
	writeJSON(w, http.StatusOK, instanceOverrideResult{Cluster: name, Instance: id})
}

func (s *Server) handleDrainCluster(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !s.canOverride(w) {
		return
	}
	c, ok := s.opts.Store.Cluster(name)
	if !ok {
		writeError(w, http.StatusNotFound, "unknown cluster "+quote(name))
		return
	}
	o, bad := s.readOverride(w, r)
	if bad != nil {
		writeError(w, bad.status, bad.msg)
		return
	}
	ids := make([]string, len(c.Members))
	for i := range c.Members {
		ids[i] = c.Members[i].ID
	}
	if s.opts.Overrides != nil {
		if err := s.opts.Overrides.PutMany(name, ids, *o); err != nil {
			s.log.Error("persisting cluster override failed", "cluster", name, "err", err)
			writeError(w, http.StatusInternalServerError, "could not persist the override")
			return
		}
	}
	done := make([]string, 0, len(ids))
	for _, id := range ids {
		if err := s.opts.Aggregator.SetOverride(name, id, o); err != nil {
			// Removed by a concurrent reload, or a real failure: either
			// way it must not come back on restart.
			s.forget(name, id)
			if !errors.Is(err, membership.ErrNotFound) {
				s.log.Error("applying override failed", "cluster", name, "instance", id, "err", err)
			}
			continue
		}
		done = append(done, id)
	}
	s.log.Info(overrideLogMsg, "action", "drain", "cluster", name, "instances", len(done), "by", o.By, "reason", o.Reason, "expires", expiry(o))
	writeJSON(w, http.StatusOK, clusterOverrideResult{Cluster: name, Instances: done, Override: o})
}

func (s *Server) handleUndrainCluster(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !s.canOverride(w) {
		return
	}
	if s.opts.Overrides != nil {
		if err := s.opts.Overrides.DeleteCluster(name); err != nil {
			s.log.Error("deleting persisted overrides failed", "cluster", name, "err", err)
			writeError(w, http.StatusInternalServerError, "could not delete the persisted overrides")
			return
		}
	}
	c, ok := s.opts.Store.Cluster(name)
	if !ok {
		writeError(w, http.StatusNotFound, "unknown cluster "+quote(name))
		return
	}
	done := []string{}
	for i := range c.Members {
		m := c.Members[i]
		if m.Override == nil {
			continue
		}
		if err := s.opts.Aggregator.SetOverride(name, m.ID, nil); err != nil {
			if !errors.Is(err, membership.ErrNotFound) {
				s.log.Error("clearing override failed", "cluster", name, "instance", m.ID, "err", err)
			}
			continue
		}
		done = append(done, m.ID)
	}
	s.log.Info(overrideLogMsg, "action", "undrain", "cluster", name, "instances", len(done), "by", who(r))
	writeJSON(w, http.StatusOK, clusterOverrideResult{Cluster: name, Instances: done})
}

// memberExists answers 404 for an unknown cluster or instance.
func (s *Server) memberExists(w http.ResponseWriter, name, id string) bool {
	c, ok := s.opts.Store.Cluster(name)
	if !ok {
		writeError(w, http.StatusNotFound, "unknown cluster "+quote(name))
		return false
	}
	if _, ok := c.Member(id); !ok {
		writeError(w, http.StatusNotFound, "unknown instance "+quote(id)+" in cluster "+quote(name))
		return false
	}
	return true
}

// forget drops a persisted override that could not be applied.
func (s *Server) forget(name, id string) {
	if s.opts.Overrides == nil {
		return
	}
	if err := s.opts.Overrides.Delete(name, id); err != nil {
		s.log.Error("rolling back persisted override failed", "cluster", name, "instance", id, "err", err)
	}
}

func (s *Server) overrideFailed(w http.ResponseWriter, name, id string, err error) {
	if errors.Is(err, membership.ErrNotFound) {
		writeError(w, http.StatusNotFound, "unknown instance "+quote(id)+" in cluster "+quote(name))
		return
	}
	s.log.Error("applying override failed", "cluster", name, "instance", id, "err", err)
	writeError(w, http.StatusInternalServerError, "could not apply the override: "+err.Error())
}

// expiry is how an override's end reads in logs.
func expiry(o *membership.Override) any {
	if o.Expires.IsZero() {
		return "never"
	}
	return o.Expires
}
