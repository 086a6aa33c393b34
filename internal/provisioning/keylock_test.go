package provisioning

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestKeyLocksSerializeOneKey(t *testing.T) {
	t.Parallel()
	var k keyLocks
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := k.lock(context.Background(), "sub_1")
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			inside.Add(-1)
			unlock()
		}()
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Fatalf("%d handlers of one record ran at once, want 1", most.Load())
	}
	if n := k.held(); n != 0 {
		t.Fatalf("%d lock entries left after every holder unlocked", n)
	}
}

func TestKeyLocksOtherKeysAndCancel(t *testing.T) {
	t.Parallel()
	var k keyLocks
	unlock, err := k.lock(context.Background(), "sub_1")
	if err != nil {
		t.Fatal(err)
	}
	// Another record is not held up.
	other, err := k.lock(context.Background(), "sub_2")
	if err != nil {
		t.Fatal(err)
	}
	other()
	// A waiter gives up with its context, and leaves nothing behind.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := k.lock(ctx, "sub_1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting on a held lock = %v, want the context's deadline", err)
	}
	unlock()
	again, err := k.lock(context.Background(), "sub_1")
	if err != nil {
		t.Fatal(err)
	}
	again()
	if n := k.held(); n != 0 {
		t.Fatalf("%d lock entries left, want 0", n)
	}
}

func TestKeyLocksGiveUpAtOnceDuringAProviderCall(t *testing.T) {
	t.Parallel()
	var k keyLocks
	unlock, err := k.lock(context.Background(), "sub_1")
	if err != nil {
		t.Fatal(err)
	}
	// Not in a call: a waiter waits its LockWait, then is busy.
	if _, err := k.lockWithin(context.Background(), "sub_1", 20*time.Millisecond); !errors.Is(err, ErrBusy) {
		t.Fatalf("waiter on a held lock: %v, want ErrBusy", err)
	}
	// In a call: busy at once, even with a LockWait far longer than the test.
	called := k.calling("sub_1")
	done := make(chan error, 1)
	go func() {
		_, err := k.lockWithin(context.Background(), "sub_1", time.Hour)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("waiter during a provider call: %v, want ErrBusy", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a waiter with LockWait 1h waited for a holder in a provider call")
	}
	// A waiter that waits as long as its context lets it is not turned away.
	waited := make(chan error, 1)
	go func() {
		u, err := k.lock(context.Background(), "sub_1")
		if err == nil {
			u()
		}
		waited <- err
	}()
	called()
	unlock()
	if err := <-waited; err != nil {
		t.Fatalf("lock after the call: %v", err)
	}
	// After the call a free lock is taken at once.
	u, err := k.lockWithin(context.Background(), "sub_1", 0)
	if err != nil {
		t.Fatalf("free lock after the call: %v", err)
	}
	u()
	if n := k.held(); n != 0 {
		t.Fatalf("%d lock entries left", n)
	}
}

func TestKeyLocksWaiterGivesUpWhenTheCallStarts(t *testing.T) {
	t.Parallel()
	var k keyLocks
	unlock, err := k.lock(context.Background(), "sub_1")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	// A waiter with a LockWait far longer than the test, already waiting
	// when the holder's provider call starts, is busy then.
	done := make(chan error, 1)
	waiting := make(chan struct{})
	go func() {
		close(waiting)
		_, err := k.lockWithin(context.Background(), "sub_1", time.Hour)
		done <- err
	}()
	<-waiting
	time.Sleep(20 * time.Millisecond) // let it reach its wait
	called := k.calling("sub_1")
	select {
	case err := <-done:
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("waiter when the call started: %v, want ErrBusy", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a waiting waiter was not turned away when the holder's call started")
	}
	called()
	// A waiter after the call waits its LockWait, as before any call.
	if _, err := k.lockWithin(context.Background(), "sub_1", 20*time.Millisecond); !errors.Is(err, ErrBusy) || strings.Contains(err.Error(), "provider call") {
		t.Fatalf("waiter after the call: %v, want ErrBusy after its LockWait", err)
	}
	// A second call of the same pass turns a new waiter away too.
	go func() {
		_, err := k.lockWithin(context.Background(), "sub_1", time.Hour)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	called = k.calling("sub_1")
	defer called()
	select {
	case err := <-done:
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("waiter at the second call: %v, want ErrBusy", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a waiter was not turned away at the holder's second call")
	}
}
