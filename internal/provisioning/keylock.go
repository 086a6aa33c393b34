package provisioning

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// keyLocks serializes, within one process, the handlers of one record: a
// Service takes a record's lock before its KV lease, so two handlers of one
// process never drive one record at once (and never mistake each other's
// step in flight for a crash). Handlers of other records are not held up.
// The zero value is ready to use.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	sem  chan struct{} // a lock that a waiter can give up on (ctx)
	refs int           // holders and waiters; the entry goes at zero
	// calling: the holder waits on a provider call, which takes longer
	// than any LockWait; a waiter that may give up does so at once.
	calling atomic.Bool
}

// lock waits for key's lock or for ctx to end. The returned func unlocks.
func (k *keyLocks) lock(ctx context.Context, key string) (func(), error) {
	return k.lockWithin(ctx, key, -1)
}

// lockWithin is lock waiting at most d (negative: as long as ctx lets it);
// a lock still held then is ErrBusy.
func (k *keyLocks) lockWithin(ctx context.Context, key string, d time.Duration) (func(), error) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyLock{sem: make(chan struct{}, 1)}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()

	select {
	case l.sem <- struct{}{}:
		return func() { <-l.sem; k.done(key, l) }, nil
	default:
	}
	if d >= 0 && l.calling.Load() {
		k.done(key, l)
		return nil, fmt.Errorf("%w: %s (a provider call in flight)", ErrBusy, key)
	}
	var timeout <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case l.sem <- struct{}{}:
		return func() { <-l.sem; k.done(key, l) }, nil
	case <-ctx.Done():
		k.done(key, l)
		return nil, ctx.Err()
	case <-timeout:
		k.done(key, l)
		return nil, fmt.Errorf("%w: %s", ErrBusy, key)
	}
}

// tryLock takes key's lock if nobody holds it, without waiting.
func (k *keyLocks) tryLock(key string) (func(), bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.locks == nil {
		k.locks = map[string]*keyLock{}
	}
	if _, held := k.locks[key]; held {
		return nil, false
	}
	l := &keyLock{sem: make(chan struct{}, 1)}
	l.sem <- struct{}{}
	l.refs = 1
	k.locks[key] = l
	return func() { <-l.sem; k.done(key, l) }, true
}

// calling marks whether key's holder is in a provider call: a handler
// that would only wait LockWait for it (lockWithin) gives up at once
// rather than hold a worker slot for nothing. It returns the func that
// clears the mark.
func (k *keyLocks) calling(key string) func() {
	k.mu.Lock()
	l := k.locks[key]
	k.mu.Unlock()
	if l == nil {
		return func() {}
	}
	l.calling.Store(true)
	return func() { l.calling.Store(false) }
}

func (k *keyLocks) done(key string, l *keyLock) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if l.refs--; l.refs == 0 {
		delete(k.locks, key)
	}
}

// held reports how many records have holders or waiters (tests).
func (k *keyLocks) held() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.locks)
}
