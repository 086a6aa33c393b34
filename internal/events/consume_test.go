package events_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap/zaptest"

	"github.com/vpnbill/vpnbill/internal/events"
)

// Small limits so that redelivery, heartbeats and exhaustion happen within a test.
const (
	testAckWait    = 2 * time.Second
	testMaxDeliver = 3
	// slowAckWait is for the tests of heartbeats: InProgress every second
	// leaves a loaded machine two seconds of slack.
	slowAckWait = 3 * time.Second
)

// settled is one message's outcome as reported by ConsumerConfig.Observe.
type settled struct {
	id      string // Nats-Msg-Id
	outcome string
}

// consumerBundle is a topology with small limits, the worker consumer on
// STRIPE and the outcomes the consume loop reports.
type consumerBundle struct {
	*testBundle
	cons     jetstream.Consumer
	outcomes chan settled
}

func setupConsumer(t *testing.T) *consumerBundle {
	t.Helper()
	return setupConsumerAckWait(t, testAckWait)
}

func setupConsumerAckWait(t *testing.T, ackWait time.Duration) *consumerBundle {
	t.Helper()
	b := setup(t, events.Config{AckWait: ackWait, MaxDeliver: testMaxDeliver})
	cons, err := b.topo.WorkerConsumer(testContext(t))
	if err != nil {
		t.Fatalf("WorkerConsumer: %v", err)
	}
	return &consumerBundle{testBundle: b, cons: cons, outcomes: make(chan settled, 256)}
}

// config is a ConsumerConfig matching the consumer, with tiny delays, that
// reports every outcome to cb.outcomes.
func (cb *consumerBundle) config(t *testing.T) events.ConsumerConfig {
	return events.ConsumerConfig{
		Concurrency: 4,
		RetryBase:   50 * time.Millisecond,
		RetryMax:    200 * time.Millisecond,
		PauseFor:    time.Second,
		MaxDeliver:  testMaxDeliver,
		AckWait:     cb.cfg.AckWait,
		Logger:      zaptest.NewLogger(t),
		Observe: func(msg jetstream.Msg, outcome string, _ time.Duration) {
			cb.outcomes <- settled{id: msg.Headers().Get(nats.MsgIdHdr), outcome: outcome}
		},
	}
}

// run starts the consume loop and returns a function that stops it and
// waits for Run to return; the test's cleanup stops it too.
func (cb *consumerBundle) run(t *testing.T, h events.Handler, cfg events.ConsumerConfig) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	c := events.NewConsumer(cb.js, cb.cons, h, cfg)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(guard):
				t.Error("Run did not return after its context was canceled")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// publish stores a Stripe event of type invoice.paid with id as its dedup id
// and returns its stream sequence.
func (cb *consumerBundle) publish(t *testing.T, id string) uint64 {
	t.Helper()
	ack, err := events.Publish(testContext(t), cb.js, "stripe.event.invoice.paid", id, []byte(`{"id":"`+id+`"}`), nil)
	if err != nil {
		t.Fatalf("Publish %s: %v", id, err)
	}
	return ack.Sequence
}

// expect waits for the next outcomes and fails unless they are want, in order.
func (cb *consumerBundle) expect(t *testing.T, want ...settled) {
	t.Helper()
	for i, w := range want {
		select {
		case got := <-cb.outcomes:
			if got != w {
				t.Fatalf("outcome %d: %+v, want %+v", i, got, w)
			}
		case <-time.After(guard):
			t.Fatalf("outcome %d: none, want %+v", i, w)
		}
	}
}

// assertAllAcked fails unless the consumer comes to have nothing pending
// or unacked and its ack floor at lastSeq. An ack is sent without waiting
// for the server's answer, so the last one may still be on its way when
// the outcome is observed.
func (cb *consumerBundle) assertAllAcked(t *testing.T, lastSeq uint64) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for {
		info, err := cb.cons.Info(testContext(t))
		if err != nil {
			t.Fatalf("consumer info: %v", err)
		}
		if info.NumAckPending == 0 && info.NumPending == 0 && info.AckFloor.Stream == lastSeq {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer: %d unacked, %d pending, ack floor %d; want 0, 0, %d",
				info.NumAckPending, info.NumPending, info.AckFloor.Stream, lastSeq)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// deadLetter returns the last dead letter of a Stripe invoice.paid event.
func (cb *consumerBundle) deadLetter(t *testing.T) *jetstream.RawStreamMsg {
	t.Helper()
	m, err := cb.topo.Dead.GetLastMsgForSubject(testContext(t), "dead.stripe.event.invoice.paid")
	if err != nil {
		t.Fatalf("dead letter: %v", err)
	}
	return m
}

func msgID(msg jetstream.Msg) string { return msg.Headers().Get(nats.MsgIdHdr) }

func delivery(t *testing.T, msg jetstream.Msg) uint64 {
	meta, err := msg.Metadata()
	if err != nil {
		t.Errorf("metadata: %v", err)
		return 0
	}
	return meta.NumDelivered
}

func TestConsumerAcksSuccess(t *testing.T) {
	t.Parallel()
	cb := setupConsumer(t)
	var calls atomic.Int32
	stop := cb.run(t, func(ctx context.Context, msg jetstream.Msg) error {
		calls.Add(1)
		return nil
	}, cb.config(t))
	seq := cb.publish(t, "evt_ok")

	cb.expect(t, settled{"evt_ok", "ack"})
	cb.assertAllAcked(t, seq)
	stop()
	if n := calls.Load(); n != 1 {
		t.Errorf("handler called %d times, want 1", n)
	}
}

func TestConsumerRetriesError(t *testing.T) {
	t.Parallel()
	cb := setupConsumer(t)
	var mu sync.Mutex
	var deliveries []uint64
	stop := cb.run(t, func(ctx context.Context, msg jetstream.Msg) error {
		n := delivery(t, msg)
		mu.Lock()
		deliveries = append(deliveries, n)
		mu.Unlock()
		if n == 1 {
			return errors.New("provider answered 503")
		}
		return nil
	}, cb.config(t))
	seq := cb.publish(t, "evt_retry")

	cb.expect(t, settled{"evt_retry", "retry"}, settled{"evt_retry", "ack"})
	cb.assertAllAcked(t, seq)
	stop()
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(deliveries) != "[1 2]" {
		t.Errorf("handler saw deliveries %v, want [1 2]", deliveries)
	}
}

func TestConsumerRetryAfter(t *testing.T) {
	t.Parallel()
	cb := setupConsumer(t)
	var calls atomic.Int32
	stop := cb.run(t, func(ctx context.Context, msg jetstream.Msg) error {
		if calls.Add(1) == 1 {
			return events.RetryAfter(errors.New("throttled"), 300*time.Millisecond)
		}
		return nil
	}, cb.config(t))
	seq := cb.publish(t, "evt_later")

	cb.expect(t, settled{"evt_later", "retry"}, settled{"evt_later", "ack"})
	cb.assertAllAcked(t, seq)
	stop()
	if n := calls.Load(); n != 2 {
		t.Errorf("handler called %d times, want 2", n)
	}
}

// A message whose work waits on other work in progress (Busy) comes back
// however many deliveries it takes, past MaxDeliver, never dead-lettered.
func TestConsumerBusyIsNeverDeadLettered(t *testing.T) {
	t.Parallel()
	cb := setupConsumer(t)
	const busyFor = 2 * testMaxDeliver
	var calls atomic.Int32
	stop := cb.run(t, func(ctx context.Context, msg jetstream.Msg) error {
		if calls.Add(1) <= busyFor {
			return events.Busy(errors.New("record busy"), 20*time.Millisecond)
		}
		return nil
	}, cb.config(t))
	seq := cb.publish(t, "evt_busy")
	var want []settled
	for range busyFor {
		want = append(want, settled{"evt_busy", "retry"})
	}
	cb.expect(t, append(want, settled{"evt_busy", "ack"})...)
	cb.assertAllAcked(t, seq)
	stop()
	if n := calls.Load(); n != busyFor+1 {
		t.Errorf("handler called %d times, want %d", n, busyFor+1)
	}
}

func TestConsumerPermanentIsDeadLettered(t *testing.T) {
	t.Parallel()
	cb := setupConsumer(t)
	var calls atomic.Int32
	stop := cb.run(t, func(ctx context.Context, msg jetstream.Msg) error {
		calls.Add(1)
		return events.Permanent(errors.New("price_unknown is in no plan"))
	}, cb.config(t))
	seq := cb.publish(t, "evt_bad")

	cb.expect(t, settled{"evt_bad", "dead"})
	m := cb.deadLetter(t)
	if got := m.Header.Get(events.HeaderDeadReason); !strings.Contains(got, "price_unknown is in no plan") {
		t.Errorf("dead reason %q does not carry the handler's error", got)
	}
	wantHeaders := map[string]string{
		events.HeaderDeadStream:  events.StreamStripe,
		events.HeaderDeadSubject: "stripe.event.invoice.paid",
		events.HeaderDeadSeq:     strconv.FormatUint(seq, 10),
		events.HeaderDeadCount:   "1",
	}
	for k, want := range wantHeaders {
		if got := m.Header.Get(k); got != want {
			t.Errorf("dead letter header %s = %q, want %q", k, got, want)
		}
	}
	if _, err := time.Parse(time.RFC3339, m.Header.Get(events.HeaderDeadTime)); err != nil {
		t.Errorf("dead letter time: %v", err)
	}
	if string(m.Data) != `{"id":"evt_bad"}` {
		t.Errorf("dead letter body %q, want the original", m.Data)
	}

	// The original is settled for good.
	cb.assertAllAcked(t, seq)
	stop()
	if n := calls.Load(); n != 1 {
		t.Errorf("handler called %d times, want 1", n)
	}
	select {
	case o := <-cb.outcomes:
		t.Errorf("unexpected outcome after dead letter: %+v", o)
	default:
	}
}

func TestConsumerGivesUpAfterMaxDeliver(t *testing.T) {
	t.Parallel()
	cb := setupConsumer(t)
	var calls atomic.Int32
	stop := cb.run(t, func(ctx context.Context, msg jetstream.Msg) error {
		calls.Add(1)
		return errors.New("provider answered 500")
	}, cb.config(t))
	seq := cb.publish(t, "evt_fail")

	cb.expect(t, settled{"evt_fail", "retry"}, settled{"evt_fail", "retry"}, settled{"evt_fail", "dead"})
	m := cb.deadLetter(t)
	reason := m.Header.Get(events.HeaderDeadReason)
	if !strings.Contains(reason, "gave up after 3 deliveries") || !strings.Contains(reason, "provider answered 500") {
		t.Errorf("dead reason %q, want it to say it gave up after 3 deliveries and why", reason)
	}
	if got := m.Header.Get(events.HeaderDeadCount); got != "3" {
		t.Errorf("dead letter deliveries %q, want 3", got)
	}
	if string(m.Data) != `{"id":"evt_fail"}` {
		t.Errorf("dead letter body %q, want the original", m.Data)
	}
	cb.assertAllAcked(t, seq)
	stop()
	if n := calls.Load(); n != testMaxDeliver {
		t.Errorf("handler called %d times, want %d", n, testMaxDeliver)
	}
}

func TestConsumerPausesOnSystemic(t *testing.T) {
	t.Parallel()
	cb := setupConsumer(t)
	// Everything that happens, in order: handler calls and pauses.
	happened := make(chan string, 64)
	cfg := cb.config(t)
	cfg.Concurrency = 1
	cfg.OnSystemic = func(err error, paused bool) {
		switch {
		case paused && err != nil && strings.Contains(err.Error(), "api key rejected"):
			happened <- "paused"
		case !paused && err == nil:
			happened <- "resumed"
		default:
			happened <- fmt.Sprintf("OnSystemic(%v, %t)", err, paused)
		}
	}
	var systemicOnce atomic.Bool
	stop := cb.run(t, func(ctx context.Context, msg jetstream.Msg) error {
		if msgID(msg) == "evt_sys" && systemicOnce.CompareAndSwap(false, true) {
			// Give the loop time to have the next messages waiting.
			time.Sleep(100 * time.Millisecond)
			happened <- "systemic"
			return events.Systemic(errors.New("api key rejected"))
		}
		happened <- "handled " + msgID(msg)
		return nil
	}, cfg)

	// Messages published before and after the failure all wait for the pause to end.
	cb.publish(t, "evt_sys")
	cb.publish(t, "evt_a")
	cb.publish(t, "evt_b")
	next := func() string {
		t.Helper()
		select {
		case s := <-happened:
			return s
		case <-time.After(guard):
			t.Fatal("nothing happened")
			return ""
		}
	}
	if got := next(); got != "systemic" {
		t.Fatalf("first event %q, want systemic", got)
	}
	if got := next(); got != "paused" {
		t.Fatalf("after the systemic error: %q, want paused", got)
	}
	last := cb.publish(t, "evt_c")
	if got := next(); got != "resumed" {
		t.Fatalf("during the pause: %q, want resumed", got)
	}
	handled := map[string]bool{}
	for len(handled) < 4 {
		got, ok := strings.CutPrefix(next(), "handled ")
		if !ok || handled[got] {
			t.Fatalf("after resuming: %q, handled so far %v", got, handled)
		}
		handled[got] = true
	}
	// Drain the outcomes: one paused, four acks.
	acks := 0
	for acks < 4 {
		select {
		case o := <-cb.outcomes:
			if o.outcome == "ack" {
				acks++
			} else if o != (settled{"evt_sys", "paused"}) {
				t.Fatalf("unexpected outcome %+v", o)
			}
		case <-time.After(guard):
			t.Fatalf("%d acks, want 4", acks)
		}
	}
	cb.assertAllAcked(t, last)
	stop()
}

func TestConsumerSystemicOnLastDeliveryIsDeadLettered(t *testing.T) {
	t.Parallel()
	cb := setupConsumer(t)
	cfg := cb.config(t)
	cfg.PauseFor = 100 * time.Millisecond
	var pauses atomic.Int32
	cfg.OnSystemic = func(err error, paused bool) {
		if paused {
			pauses.Add(1)
		}
	}
	stop := cb.run(t, func(ctx context.Context, msg jetstream.Msg) error {
		return events.Systemic(errors.New("ip not allow-listed"))
	}, cfg)
	seq := cb.publish(t, "evt_outage")

	// JetStream will not deliver it after the last delivery: it is kept in
	// DEAD rather than lost, and the loop still pauses.
	cb.expect(t, settled{"evt_outage", "paused"}, settled{"evt_outage", "paused"}, settled{"evt_outage", "dead"})
	m := cb.deadLetter(t)
	if reason := m.Header.Get(events.HeaderDeadReason); !strings.Contains(reason, "gave up after 3 deliveries") ||
		!strings.Contains(reason, "ip not allow-listed") {
		t.Errorf("dead reason %q", reason)
	}
	cb.assertAllAcked(t, seq)
	stop()
	if n := pauses.Load(); n != 3 {
		t.Errorf("paused %d times, want 3", n)
	}
}

func TestConsumerHeartbeatsLongHandler(t *testing.T) {
	t.Parallel()
	cb := setupConsumerAckWait(t, slowAckWait)
	var calls atomic.Int32
	stop := cb.run(t, func(ctx context.Context, msg jetstream.Msg) error {
		calls.Add(1)
		time.Sleep(3 * slowAckWait) // slow work, well past AckWait
		return nil
	}, cb.config(t))
	seq := cb.publish(t, "evt_slow")

	cb.expect(t, settled{"evt_slow", "ack"})
	cb.assertAllAcked(t, seq)
	stop()
	if n := calls.Load(); n != 1 {
		t.Errorf("handler called %d times, want 1: redelivered while in progress", n)
	}
}

func TestConsumerRunWaitsForInFlight(t *testing.T) {
	t.Parallel()
	cb := setupConsumer(t)
	started := make(chan struct{})
	release := make(chan struct{})
	var finished atomic.Bool
	var handlerCtxErr error
	h := func(ctx context.Context, msg jetstream.Msg) error {
		close(started)
		select {
		case <-release:
		case <-time.After(guard):
		}
		handlerCtxErr = ctx.Err() // read by the test after Run returns
		finished.Store(true)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	returned := make(chan struct{})
	go func() {
		done <- events.NewConsumer(cb.js, cb.cons, h, cb.config(t)).Run(ctx)
		close(returned)
	}()
	t.Cleanup(func() { // on an early failure too
		cancel()
		select {
		case <-returned:
		case <-time.After(guard):
		}
	})
	seq := cb.publish(t, "evt_inflight")

	select {
	case <-started:
	case <-time.After(guard):
		t.Fatal("handler not started")
	}
	cancel()
	close(release) // the handler finishes after Run was told to stop
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(guard):
		t.Fatal("Run did not return after its context was canceled")
	}
	if !finished.Load() {
		t.Fatal("Run returned before the handler in flight finished")
	}
	if handlerCtxErr != nil {
		t.Errorf("handler ctx: %v after Run was canceled, want it not canceled", handlerCtxErr)
	}
	cb.expect(t, settled{"evt_inflight", "ack"})
	cb.assertAllAcked(t, seq)
}

func TestConsumerConcurrency(t *testing.T) {
	t.Parallel()
	cb := setupConsumer(t)
	const concurrency, total = 4, 20
	cfg := cb.config(t)
	cfg.Concurrency = concurrency
	var running, most, calls atomic.Int32
	full := make(chan struct{}) // closed once concurrency handlers run at once
	var fullOnce sync.Once
	stop := cb.run(t, func(ctx context.Context, msg jetstream.Msg) error {
		calls.Add(1)
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		if n == concurrency {
			fullOnce.Do(func() { close(full) })
		}
		select {
		case <-full:
		case <-time.After(guard):
			t.Error("never reached full concurrency")
		}
		return nil
	}, cfg)
	var last uint64
	for i := range total {
		last = cb.publish(t, fmt.Sprintf("evt_%02d", i))
	}

	for i := range total {
		select {
		case o := <-cb.outcomes:
			if o.outcome != "ack" {
				t.Fatalf("outcome %+v, want ack", o)
			}
		case <-time.After(guard):
			t.Fatalf("%d acks, want %d", i, total)
		}
	}
	cb.assertAllAcked(t, last)
	stop()
	if m := most.Load(); m != concurrency {
		t.Errorf("at most %d handlers ran at once, want %d", m, concurrency)
	}
	if n := calls.Load(); n != total {
		t.Errorf("handler called %d times, want %d", n, total)
	}
}

func TestConsumerHeartbeatsWaitingMessages(t *testing.T) {
	t.Parallel()
	cb := setupConsumerAckWait(t, slowAckWait)
	cfg := cb.config(t)
	cfg.Concurrency = 2
	var mu sync.Mutex
	calls := map[string]int{}
	stop := cb.run(t, func(ctx context.Context, msg jetstream.Msg) error {
		mu.Lock()
		calls[msgID(msg)]++
		mu.Unlock()
		if strings.HasPrefix(msgID(msg), "evt_slow") {
			time.Sleep(3 * slowAckWait) // the next messages wait for a slot meanwhile
		}
		return nil
	}, cfg)
	ids := []string{"evt_slow1", "evt_slow2", "evt_next1", "evt_next2", "evt_next3"}
	var last uint64
	for _, id := range ids {
		last = cb.publish(t, id)
	}

	for range ids {
		select {
		case o := <-cb.outcomes:
			if o.outcome != "ack" {
				t.Fatalf("outcome %+v, want ack", o)
			}
		case <-time.After(guard):
			t.Fatal("not all messages acked")
		}
	}
	cb.assertAllAcked(t, last)
	stop()
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if calls[id] != 1 {
			t.Errorf("handler calls %v, want each message handled once", calls)
			break
		}
	}
}

// A message whose work waits on work in progress in this process
// (BusyUntil) waits here, without its handler slot, and is handled again
// as soon as that work ends: one delivery, no trip to the server, and the
// slot it left takes other messages meanwhile.
func TestConsumerBusyUntilWaitsWithoutASlot(t *testing.T) {
	t.Parallel()
	cb := setupConsumer(t)
	cfg := cb.config(t)
	cfg.Concurrency = 1
	wake := make(chan struct{})
	var calls, others atomic.Int32
	var deliveries sync.Map // msg id → deliveries seen by the handler
	stop := cb.run(t, func(ctx context.Context, msg jetstream.Msg) error {
		id := msg.Headers().Get(nats.MsgIdHdr)
		meta, err := msg.Metadata()
		if err != nil {
			return err
		}
		deliveries.Store(id, meta.NumDelivered)
		if id != "evt_parked" {
			others.Add(1)
			return nil
		}
		if calls.Add(1) == 1 {
			// An hour: only wake ends the wait.
			return events.BusyUntil(errors.New("record busy"), time.Hour, wake)
		}
		return nil
	}, cfg)
	cb.publish(t, "evt_parked")
	// With one slot, the others are handled while evt_parked waits.
	var last uint64
	for i := range 3 {
		last = cb.publish(t, fmt.Sprintf("evt_other_%d", i))
	}
	cb.expect(t, settled{"evt_other_0", "ack"}, settled{"evt_other_1", "ack"}, settled{"evt_other_2", "ack"})
	if n := calls.Load(); n != 1 {
		t.Fatalf("parked message handled %d times before its wake, want 1", n)
	}
	close(wake)
	cb.expect(t, settled{"evt_parked", "ack"})
	cb.assertAllAcked(t, last)
	stop()
	if n := calls.Load(); n != 2 {
		t.Errorf("parked message handled %d times, want 2", n)
	}
	if d, _ := deliveries.Load("evt_parked"); d != uint64(1) {
		t.Errorf("parked message handled again at delivery %v, want 1 (no redelivery)", d)
	}
}

// A parked message is handled again when its wait's bound passes, wake or
// not, and waits again if still busy; a consumer that stops meanwhile
// hands it back to the server, which delivers it again.
func TestConsumerBusyUntilBoundAndStop(t *testing.T) {
	t.Parallel()
	cb := setupConsumer(t)
	never := make(chan struct{})
	var calls atomic.Int32
	cfg := cb.config(t)
	stop := cb.run(t, func(ctx context.Context, msg jetstream.Msg) error {
		calls.Add(1)
		return events.BusyUntil(errors.New("record busy"), 20*time.Millisecond, never)
	}, cfg)
	seq := cb.publish(t, "evt_bound")
	deadline := time.Now().Add(guard)
	for calls.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("handled %d times in %s, want again every 20ms", calls.Load(), guard)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	cb.expect(t, settled{"evt_bound", "retry"})

	// Handed back: another consumer gets it again.
	var again atomic.Int32
	cb.run(t, func(ctx context.Context, msg jetstream.Msg) error {
		again.Add(1)
		return nil
	}, cb.config(t))
	cb.expect(t, settled{"evt_bound", "ack"})
	cb.assertAllAcked(t, seq)
	if n := again.Load(); n != 1 {
		t.Errorf("handled %d times after the stop, want 1", n)
	}
}

// A parked message with a Resume is handled again by it, not by the
// handler: what the handler read of the message is not read again.
func TestConsumerBusyUntilResumes(t *testing.T) {
	t.Parallel()
	cb := setupConsumer(t)
	wake := make(chan struct{})
	var handled, resumed atomic.Int32
	stop := cb.run(t, func(ctx context.Context, msg jetstream.Msg) error {
		handled.Add(1)
		err := events.BusyUntil(errors.New("record busy"), time.Hour, wake)
		var retry *events.RetryError
		errors.As(err, &retry)
		retry.Resume = func(context.Context) error {
			resumed.Add(1)
			return nil
		}
		close(wake)
		return err
	}, cb.config(t))
	seq := cb.publish(t, "evt_resume")
	cb.expect(t, settled{"evt_resume", "ack"})
	cb.assertAllAcked(t, seq)
	stop()
	if h, r := handled.Load(), resumed.Load(); h != 1 || r != 1 {
		t.Errorf("handler called %d times, resume %d; want 1 and 1", h, r)
	}
}
