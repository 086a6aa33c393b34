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
// A handler turned away (ErrBusy) gets a channel closed when the holder
// lets go (BusyError.Wake), so it can wait without holding anything.
// The zero value is ready to use.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	sem  chan struct{} // a lock that a waiter can give up on (ctx)
	refs int           // holders and waiters; the entry goes at zero
	// calling: the holder waits on a provider call, which takes longer
	// than any LockWait; a waiter that may give up does so at once, and
	// one already waiting gives up when call is closed.
	calling atomic.Bool
	call    chan struct{} // closed when the holder's provider call starts; guarded by keyLocks.mu
	freed   chan struct{} // closed when the holder unlocks; guarded by keyLocks.mu
}

// BusyError is ErrBusy: another handler of this process holds the record.
// Wake is closed when that holder lets go, which is when applying or
// reconciling again may succeed.
type BusyError struct {
	Key    string
	Reason string // why the handler gave up: what the holder is doing
	Wake   <-chan struct{}
}

func (e *BusyError) Error() string        { return fmt.Sprintf("%v: %s (%s)", ErrBusy, e.Key, e.Reason) }
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// closed is a channel closed from the start.
var closed = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func newKeyLock() *keyLock {
	return &keyLock{sem: make(chan struct{}, 1), call: make(chan struct{}), freed: make(chan struct{})}
}

// entry returns key's lock entry, made if need be, counting the caller
// among its holders and waiters. k.mu must be held.
func (k *keyLocks) entry(key string) *keyLock {
	if k.locks == nil {
		k.locks = map[string]*keyLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = newKeyLock()
		k.locks[key] = l
	}
	l.refs++
	return l
}

// lock waits for key's lock or for ctx to end. The returned func unlocks.
func (k *keyLocks) lock(ctx context.Context, key string) (func(), error) {
	return k.lockWithin(ctx, key, -1)
}

// lockWithin is lock waiting at most d (negative: as long as ctx lets it);
// a lock still held then is a *BusyError.
func (k *keyLocks) lockWithin(ctx context.Context, key string, d time.Duration) (func(), error) {
	k.mu.Lock()
	l := k.entry(key)
	call := l.call
	k.mu.Unlock()

	select {
	case l.sem <- struct{}{}:
		return k.unlocker(key, l), nil
	default:
	}
	if d >= 0 && l.calling.Load() {
		return nil, k.busy(key, l, "a provider call in flight")
	}
	var timeout <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	} else {
		call = nil // waits for the lock however long the holder's call takes
	}
	select {
	case l.sem <- struct{}{}:
		return k.unlocker(key, l), nil
	case <-ctx.Done():
		k.mu.Lock()
		k.drop(key, l)
		k.mu.Unlock()
		return nil, ctx.Err()
	case <-call:
		return nil, k.busy(key, l, "a provider call in flight")
	case <-timeout:
		return nil, k.busy(key, l, fmt.Sprintf("held for longer than %s", d))
	}
}

// tryLock takes key's lock if nobody holds or waits for it, without
// waiting; if somebody does, it returns a *BusyError.
func (k *keyLocks) tryLock(key string) (func(), error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if l, held := k.locks[key]; held {
		return nil, &BusyError{Key: key, Reason: "another handler of this process drives it", Wake: l.freed}
	}
	l := k.entry(key)
	l.sem <- struct{}{}
	return k.unlocker(key, l), nil
}

// unlocker returns the func that lets go of l, taken: it wakes those the
// holder turned away.
func (k *keyLocks) unlocker(key string, l *keyLock) func() {
	return func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		<-l.sem
		close(l.freed)
		l.freed = make(chan struct{})
		k.drop(key, l)
	}
}

// busy is the error of a waiter on l giving up, which it leaves.
func (k *keyLocks) busy(key string, l *keyLock, reason string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	wake := l.freed
	if len(l.sem) == 0 {
		wake = closed // let go of meanwhile: try again at once
	}
	k.drop(key, l)
	return &BusyError{Key: key, Reason: reason, Wake: wake}
}

// calling marks whether key's holder is in a provider call: a handler
// that would only wait LockWait for it (lockWithin) gives up at once,
// or as the call starts if it already waits, rather than hold a worker
// slot for nothing. It returns the func that clears the mark.
func (k *keyLocks) calling(key string) func() {
	k.mu.Lock()
	defer k.mu.Unlock()
	l := k.locks[key]
	if l == nil {
		return func() {}
	}
	l.calling.Store(true)
	close(l.call)
	return func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		l.calling.Store(false)
		l.call = make(chan struct{})
	}
}

// drop counts one holder or waiter of l out. k.mu must be held.
func (k *keyLocks) drop(key string, l *keyLock) {
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
