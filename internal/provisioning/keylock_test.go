package provisioning

import (
	"context"
	"errors"
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
