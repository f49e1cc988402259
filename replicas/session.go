package replicas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/internal/consulwait"
)

// ErrIDInUse: another live replica holds this replica's ID.
var ErrIDInUse = errors.New("replica id in use by another live replica")

// errSessionGone: Consul no longer has the session.
var errSessionGone = errors.New("consul invalidated the session")

// registration is the value of a replica's registry key.
type registration struct {
	ID        string    `json:"id"`
	Advertise string    `json:"advertise"`
	Started   time.Time `json:"started"`
	Epoch     string    `json:"epoch"`
}

// session is this replica's Consul session: bound to an agent TTL check
// (TTL = session_ttl) and to the agent's serfHealth, behaviour delete, so
// the registry key and the writer lock it holds vanish session_ttl after
// the last renewal. A session with a TTL of its own would be invalidated
// only after twice its TTL (Consul's grace), and no TTL under 10 s is
// accepted; a check's TTL is exact.
type session struct {
	r *Replica

	mu         sync.Mutex
	id         string    // "" while there is none
	validUntil time.Time // the session is surely alive until then
	changed    chan struct{}
	verify     chan struct{} // asks for a renewal now
}

func newSession(r *Replica) *session {
	return &session{r: r, changed: make(chan struct{}), verify: make(chan struct{}, 1)}
}

// name tells this process's sessions from any other's with the same ID.
func (s *session) name() string {
	return fmt.Sprintf("vigil replica %s/%s epoch %s", s.r.opts.Deployment, s.r.opts.ID, s.r.epoch)
}

// current returns the session, until when it is surely alive, and a
// channel closed when the session changes.
func (s *session) current() (id string, validUntil time.Time, changed <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id, s.validUntil, s.changed
}

// valid returns the session if it is surely alive at now.
func (s *session) valid(now time.Time) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id, s.id != "" && now.Before(s.validUntil)
}

func (s *session) set(id string, validUntil time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.validUntil = validUntil
	if id != s.id {
		s.id = id
		close(s.changed)
		s.changed = make(chan struct{})
	}
}

// poke asks the loop to confirm the session now.
func (s *session) poke() {
	select {
	case s.verify <- struct{}{}:
	default:
	}
}

// run keeps a session: it establishes one, renews it every third of the
// TTL, and when a renewal fails for a whole TTL or Consul says it is gone,
// drops it at once (the replica stops writing) and establishes another.
func (s *session) run(ctx context.Context) {
	o := s.r.opts
	log := s.r.log
	bo := &consulwait.Backoff{Min: 200 * time.Millisecond, Max: max(o.SessionTTL/2, time.Second)}
	every, retry := o.SessionTTL/3, max(o.SessionTTL/10, 100*time.Millisecond)
	next := time.Now().Add(every)
	failing := false
	for ctx.Err() == nil {
		id, until, _ := s.current()
		if id == "" {
			if err := s.establish(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				if !failing || errors.Is(err, ErrIDInUse) {
					log.Warn("replica registration failed; retrying", "error", err)
				}
				failing = true
				consulwait.Sleep(ctx, bo.Next())
				continue
			}
			log.Info("replica registered in Consul", "session", s.idOnly())
			bo.Reset()
			failing = false
			next = time.Now().Add(every)
			continue
		}
		renew := time.NewTimer(time.Until(next))
		lapse := time.NewTimer(time.Until(until))
		checkKey := false
		select {
		case <-ctx.Done():
		case <-lapse.C:
			s.lose("no renewal confirmed within session_ttl")
		case <-renew.C:
		case <-s.verify:
			checkKey = true
		}
		renew.Stop()
		lapse.Stop()
		if cur, _, _ := s.current(); ctx.Err() != nil || cur == "" {
			continue
		}
		if !time.Now().Before(until) {
			// Lapsed (e.g. the process was stopped): drop it even if a
			// renewal would still find it, so the writer stops and, once
			// registered again, runs a full reconcile.
			s.lose("no renewal confirmed within session_ttl")
			continue
		}
		err := s.renew(ctx, id, until, checkKey)
		switch {
		case err == nil:
			if failing {
				log.Info("replica session renewed again")
			}
			failing = false
			next = time.Now().Add(every)
		case errors.Is(err, errSessionGone):
			s.lose(err.Error())
		default:
			if ctx.Err() != nil {
				return
			}
			if !failing {
				log.Warn("replica session renewal failed; retrying", "error", err)
			}
			failing = true
			next = time.Now().Add(retry)
		}
	}
}

func (s *session) idOnly() string {
	id, _, _ := s.current()
	return id
}

// lose drops the session: from now on this replica is not the writer.
func (s *session) lose(why string) {
	id, _, _ := s.current()
	s.r.log.Warn("replica session lost; not writing the catalog until registered again", "session", id, "why", why)
	s.set("", time.Time{})
}

// establish registers the TTL check, creates a session (or takes back
// this process's own, still alive) and acquires the registry key.
func (s *session) establish(ctx context.Context) error {
	o := s.r.opts
	ctx, cancel := context.WithTimeout(ctx, o.callTimeout())
	defer cancel()
	q := (&consulapi.QueryOptions{}).WithContext(ctx)
	w := (&consulapi.WriteOptions{}).WithContext(ctx)
	sent := time.Now()
	err := o.Consul.Agent().CheckRegisterOpts(&consulapi.AgentCheckRegistration{
		ID:    s.r.checkID,
		Name:  "vigil replica " + o.ID,
		Notes: "renewed by vigil replica " + o.ID + " of deployment " + o.Deployment + "; its session ends when this check fails",
		AgentServiceCheck: consulapi.AgentServiceCheck{
			TTL:    o.SessionTTL.String(),
			Status: consulapi.HealthPassing,
		},
	}, q)
	if err != nil {
		return fmt.Errorf("register check %s: %w", s.r.checkID, err)
	}
	// Registering again keeps a left-over check's status (critical, if a
	// previous run of this replica died): pass it explicitly.
	if err := o.Consul.Agent().UpdateTTLOpts(s.r.checkID, "replica "+o.ID+" alive", consulapi.HealthPassing, q); err != nil {
		return fmt.Errorf("pass check %s: %w", s.r.checkID, err)
	}
	key := s.r.keys.replica(o.ID)
	pair, _, err := o.Consul.KV().Get(key, q)
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	if pair != nil && pair.Session != "" {
		se, _, err := o.Consul.Session().Info(pair.Session, q)
		if err != nil {
			return fmt.Errorf("session %s holding %s: %w", pair.Session, key, err)
		}
		if se != nil && se.Name == s.name() {
			s.set(pair.Session, sent.Add(o.SessionTTL)) // ours, still alive
			return nil
		}
		if se != nil {
			return fmt.Errorf("%w: %s is held by session %q (%s) on node %s", ErrIDInUse, key, se.ID, se.Name, se.Node)
		}
	}
	value, err := s.value()
	if err != nil {
		return err
	}
	id, err := s.create(ctx)
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	ok, _, err := o.Consul.KV().Acquire(&consulapi.KVPair{Key: key, Value: value, Session: id}, w)
	if err == nil && !ok {
		err = fmt.Errorf("%s: acquire refused (held by another session, or in its lock-delay)", key)
		if pair, _, gerr := o.Consul.KV().Get(key, q); gerr == nil && pair != nil && pair.Session != "" {
			err = fmt.Errorf("%w: %s is held by session %q", ErrIDInUse, key, pair.Session)
		}
	}
	if err != nil {
		_, _ = o.Consul.Session().Destroy(id, w)
		return fmt.Errorf("register %s: %w", key, err)
	}
	s.set(id, sent.Add(o.SessionTTL))
	return nil
}

// create makes the session. The agent tells the servers of a check
// registered or passed just now a moment later; until then Consul refuses
// a session bound to it ("missing check", "in critical state"), so those
// refusals are retried until ctx ends.
func (s *session) create(ctx context.Context) (string, error) {
	o := s.r.opts
	for {
		id, _, err := o.Consul.Session().Create(&consulapi.SessionEntry{
			Name:      s.name(),
			Behavior:  consulapi.SessionBehaviorDelete,
			LockDelay: o.LockDelay,
			Checks:    []string{"serfHealth", s.r.checkID},
		}, (&consulapi.WriteOptions{}).WithContext(ctx))
		var se consulapi.StatusError
		if err == nil || !errors.As(err, &se) || !strings.Contains(se.Body, s.r.checkID) {
			return id, err
		}
		if !consulwait.Sleep(ctx, 50*time.Millisecond) {
			return "", err
		}
	}
}

// renew passes the TTL check and confirms the session still exists; the
// session then lives at least session_ttl after the check was passed. It
// gives up when the session lapses (until), so a lapse is noticed on time.
// checkKey: the registry showed our key missing; take it again.
func (s *session) renew(ctx context.Context, id string, until time.Time, checkKey bool) error {
	o := s.r.opts
	deadline := time.Now().Add(o.callTimeout())
	if until.Before(deadline) {
		deadline = until
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	q := (&consulapi.QueryOptions{}).WithContext(ctx)
	sent := time.Now()
	if err := o.Consul.Agent().UpdateTTLOpts(s.r.checkID, "replica "+o.ID+" alive", consulapi.HealthPassing, q); err != nil {
		return fmt.Errorf("pass check %s: %w", s.r.checkID, err)
	}
	se, _, err := o.Consul.Session().Info(id, q)
	if err != nil {
		return fmt.Errorf("session info: %w", err)
	}
	if se == nil {
		return errSessionGone
	}
	s.mu.Lock()
	if s.id == id {
		s.validUntil = sent.Add(o.SessionTTL)
	}
	s.mu.Unlock()
	if checkKey {
		return s.retake(ctx, id)
	}
	return nil
}

// retake acquires the registry key again with a live session (someone
// deleted it).
func (s *session) retake(ctx context.Context, id string) error {
	key := s.r.keys.replica(s.r.opts.ID)
	kv := s.r.opts.Consul.KV()
	pair, _, err := kv.Get(key, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil || (pair != nil && pair.Session == id) {
		return err
	}
	if pair != nil && pair.Session != "" {
		return fmt.Errorf("%w: %s is held by session %q", ErrIDInUse, key, pair.Session)
	}
	value, err := s.value()
	if err != nil {
		return err
	}
	if _, _, err := kv.Acquire(&consulapi.KVPair{Key: key, Value: value, Session: id}, (&consulapi.WriteOptions{}).WithContext(ctx)); err != nil {
		return fmt.Errorf("take %s again: %w", key, err)
	}
	s.r.log.Warn("replica registry key was gone; taken again", "key", key)
	return nil
}

func (s *session) value() ([]byte, error) {
	o := s.r.opts
	b, err := json.Marshal(registration{ID: o.ID, Advertise: o.Advertise, Started: s.r.started, Epoch: s.r.epoch})
	if err != nil {
		return nil, fmt.Errorf("encode registration: %w", err)
	}
	return b, nil
}

// release ends the session (its keys go with it, so the writer lock moves
// at once) and removes the check. Best effort: the TTL ends it anyway.
func (s *session) release() {
	o := s.r.opts
	ctx, cancel := context.WithTimeout(context.Background(), o.callTimeout())
	defer cancel()
	id, _, _ := s.current()
	if id != "" {
		if _, err := o.Consul.Session().Destroy(id, (&consulapi.WriteOptions{}).WithContext(ctx)); err != nil {
			s.r.log.Warn("destroy replica session", "session", id, "error", err)
		}
		s.set("", time.Time{})
	}
	if err := o.Consul.Agent().CheckDeregisterOpts(s.r.checkID, (&consulapi.QueryOptions{}).WithContext(ctx)); err != nil {
		s.r.log.Warn("deregister replica check", "check", s.r.checkID, "error", err)
	}
}
