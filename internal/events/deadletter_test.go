package events_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbill/vpnbill/internal/events"
)

// deadAway deletes stream DEAD, as an outage of its leader would make it
// unwritable, and returns a function that brings it back.
func (cb *consumerBundle) deadAway(t *testing.T) (back func()) {
	t.Helper()
	if err := cb.js.DeleteStream(testContext(t), events.StreamDead); err != nil {
		t.Fatalf("delete DEAD: %v", err)
	}
	return func() {
		if _, err := events.Setup(context.Background(), cb.js, cb.cfg); err != nil {
			t.Errorf("recreate DEAD: %v", err)
		}
	}
}

func (cb *consumerBundle) deadLetters(t *testing.T) uint64 {
	t.Helper()
	s, err := cb.js.Stream(testContext(t), events.StreamDead)
	if err != nil {
		t.Fatalf("stream DEAD: %v", err)
	}
	info, err := s.Info(testContext(t))
	if err != nil {
		t.Fatalf("DEAD info: %v", err)
	}
	return info.State.Msgs
}

// A dead letter that cannot be stored on the last delivery is retried in
// the process; when DEAD is back within that time it lands at once.
func TestDeadLetterStoredAfterBriefOutage(t *testing.T) {
	t.Parallel()
	cb := setupConsumer(t)
	cfg := cb.config(t)
	cfg.DeadLetterRetryFor = 20 * time.Second
	var calls atomic.Int32
	var back func()
	stop := cb.run(t, func(ctx context.Context, msg jetstream.Msg) error {
		if calls.Add(1) == testMaxDeliver {
			back = cb.deadAway(t)
			time.AfterFunc(time.Second, back)
		}
		return errors.New("provider answered 500")
	}, cfg)
	seq := cb.publish(t, "evt_fail")

	cb.expect(t, settled{"evt_fail", "retry"}, settled{"evt_fail", "retry"}, settled{"evt_fail", "dead"})
	if n := cb.deadLetters(t); n != 1 {
		t.Fatalf("%d dead letters, want 1", n)
	}
	if reason := cb.deadLetter(t).Header.Get(events.HeaderDeadReason); !strings.Contains(reason, "provider answered 500") {
		t.Errorf("dead reason %q", reason)
	}
	cb.assertAllAcked(t, seq)
	stop()
	if n := calls.Load(); n != testMaxDeliver {
		t.Errorf("handler called %d times, want %d", n, testMaxDeliver)
	}
}

// When DEAD stays away longer than the in-process retries, the message is
// not dropped although its deliveries are used up: it comes back, and its
// dead letter lands once DEAD is back. Nothing is lost, nothing doubled.
func TestDeadLetterOutlivesLongOutage(t *testing.T) {
	t.Parallel()
	cb := setupConsumer(t)
	cfg := cb.config(t)
	cfg.DeadLetterRetryFor = 200 * time.Millisecond
	var calls atomic.Int32
	backAt := make(chan struct{})
	stop := cb.run(t, func(ctx context.Context, msg jetstream.Msg) error {
		if calls.Add(1) == testMaxDeliver {
			back := cb.deadAway(t)
			time.AfterFunc(1500*time.Millisecond, func() { back(); close(backAt) })
		}
		return errors.New("provider answered 500")
	}, cfg)
	seq := cb.publish(t, "evt_fail")

	// Two retries, then dead-letter attempts that fail while DEAD is away
	// (each a retry), then the dead letter once it is back.
	retries := 0
	for done := false; !done; {
		select {
		case o := <-cb.outcomes:
			switch o {
			case settled{"evt_fail", "retry"}:
				retries++
			case settled{"evt_fail", "dead"}:
				done = true
			default:
				t.Fatalf("unexpected outcome %+v", o)
			}
		case <-time.After(guard):
			t.Fatalf("no dead letter after DEAD came back (%d retries)", retries)
		}
	}
	select {
	case <-backAt:
	default:
		t.Fatal("dead-lettered while DEAD was away")
	}
	if retries < testMaxDeliver {
		t.Errorf("%d retries, want the 2 ordinary ones and at least one failed dead letter", retries)
	}
	if n := cb.deadLetters(t); n != 1 {
		t.Fatalf("%d dead letters, want 1", n)
	}
	if got, _ := strconv.Atoi(cb.deadLetter(t).Header.Get(events.HeaderDeadCount)); got <= testMaxDeliver {
		t.Errorf("dead letter deliveries %d, want more than %d: stored on a delivery after DEAD came back", got, testMaxDeliver)
	}
	cb.assertAllAcked(t, seq)
	stop()
}
