package replicas

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigilhq/vigil/internal/consulwait"
)

// writer is the catalog writer lock: the KV key vigil/<deployment>/writer
// acquired with this replica's session.
type writer struct {
	mu       sync.Mutex
	held     string // our session that holds the lock; "" when not held
	holder   string // session holding the lock, anyone's; "" when free
	notified bool   // what OnWriterChange was last told
}

// writerValue is the lock key's value, for people reading Consul.
type writerValue struct {
	ID string `json:"id"`
}

// IsWriter reports whether this replica holds the writer lock with a
// session it has confirmed alive within the last session_ttl. It turns
// false at once when the confirmation lapses, before Consul says anything.
func (r *Replica) IsWriter() bool {
	r.wr.mu.Lock()
	held := r.wr.held
	r.wr.mu.Unlock()
	id, ok := r.sess.valid(r.opts.now())
	return ok && held != "" && held == id
}

// Fence returns the writer lock's key and this replica's session, for a
// KV check-session operation in every catalog transaction: Consul then
// fails the whole transaction unless that session holds the lock. ok is
// false while this replica is not the writer.
func (r *Replica) Fence() (key, session string, ok bool) {
	if !r.IsWriter() {
		return "", "", false
	}
	r.wr.mu.Lock()
	defer r.wr.mu.Unlock()
	return r.keys.writer(), r.wr.held, r.wr.held != ""
}

// FenceOp is Fence as the transaction operation to prepend; nil while this
// replica is not the writer (send nothing then).
func (r *Replica) FenceOp() *consulapi.TxnOp {
	key, session, ok := r.Fence()
	if !ok {
		return nil
	}
	return &consulapi.TxnOp{KV: &consulapi.KVTxnOp{Verb: consulapi.KVCheckSession, Key: key, Session: session}}
}

func (r *Replica) setWriter(held, holder string) {
	r.wr.mu.Lock()
	r.wr.held, r.wr.holder = held, holder
	r.wr.mu.Unlock()
	r.notifyWriter()
}

// notifyWriter tells OnWriterChange when IsWriter changed. Only the
// writer goroutine calls it, so calls are serial.
func (r *Replica) notifyWriter() {
	now := r.IsWriter()
	r.wr.mu.Lock()
	changed := now != r.wr.notified
	r.wr.notified = now
	r.wr.mu.Unlock()
	if !changed {
		return
	}
	if now {
		r.log.Info("this replica is now the Consul catalog writer")
	} else {
		r.log.Info("this replica is no longer the Consul catalog writer")
	}
	if r.opts.OnWriterChange != nil {
		r.opts.OnWriterChange(now)
	}
}

// runWriter contends for the writer lock with each session in turn.
func (r *Replica) runWriter(ctx context.Context) {
	defer r.setWriter("", "")
	for ctx.Err() == nil {
		id, _, changed := r.sess.current()
		if id == "" {
			r.setWriter("", r.holderSession()) // the holder as last seen
			select {
			case <-ctx.Done():
			case <-changed:
			}
			continue
		}
		sctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-changed:
				cancel()
			case <-sctx.Done():
			}
		}()
		r.contend(sctx, id)
		cancel()
	}
}

func (r *Replica) holderSession() string {
	r.wr.mu.Lock()
	defer r.wr.mu.Unlock()
	return r.wr.holder
}

// contend watches the lock key with blocking queries and acquires it
// whenever it is free, until ctx ends (the session changed).
func (r *Replica) contend(ctx context.Context, id string) {
	key := r.keys.writer()
	kv := r.opts.Consul.KV()
	value, _ := json.Marshal(writerValue{r.opts.ID}) // a string field: cannot fail
	var b blocking
	bo := &consulwait.Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}
	for {
		q, ok := b.options(ctx)
		if !ok {
			return
		}
		pair, meta, err := kv.Get(key, q)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.notifyWriter()
			consulwait.Sleep(ctx, bo.Next())
			continue
		}
		bo.Reset()
		b.seen(meta.LastIndex)
		holder := ""
		if pair != nil {
			holder = pair.Session
		}
		if holder == id {
			r.setWriter(id, holder)
			continue
		}
		r.setWriter("", holder)
		if holder != "" {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, r.opts.callTimeout())
		got, _, err := kv.Acquire(&consulapi.KVPair{Key: key, Value: value, Session: id}, (&consulapi.WriteOptions{}).WithContext(wctx))
		cancel()
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			r.log.Warn("acquire the writer lock", "error", err)
			consulwait.Sleep(ctx, bo.Next())
		case got:
			r.setWriter(id, id)
		default:
			// Free but refused: the lock-delay of a lost holder's session.
			b.index = 0
			consulwait.Sleep(ctx, max(r.opts.LockDelay, 100*time.Millisecond))
		}
	}
}
