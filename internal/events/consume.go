package events

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// A Handler processes one message. Its result decides the message's fate,
// in one place (Consumer.settle):
//
//   - nil: Ack.
//   - an error wrapping a *PermanentError (Permanent): the message is copied
//     to stream DEAD with the reason, then Term.
//   - an error wrapping a *SystemicError (Systemic): NakWithDelay, and the
//     consumer stops pulling for Config.PauseFor: the fault is not the
//     message's, so the queue must not be burned through. From delivery
//     MaxDeliver on, the message is dead-lettered as well.
//   - an error wrapping a *RetryError of Busy: NakWithDelay with its delay,
//     however many deliveries it took (the work waits on other work in
//     progress, which ends by itself).
//   - any other error: NakWithDelay with a delay growing with the delivery
//     count (or the *RetryError's own delay), until delivery MaxDeliver,
//     when it is dead-lettered like a permanent error.
//
// A dead letter that cannot be stored is retried in the process, then the
// message is Nak'ed: the consumer's own MaxDeliver is unlimited, so it
// always comes back, and no message is left un-acked with no delivery to
// come.
//
// A handler must be idempotent: any message may be delivered more than once.
// ctx is not canceled when the consumer stops: work in flight finishes, so a
// handler must bound its own calls.
type Handler func(ctx context.Context, msg jetstream.Msg) error

// PermanentError marks a failure that no retry can fix.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as permanent: the message goes to DEAD.
func Permanent(err error) error { return &PermanentError{Err: err} }

// SystemicError marks a failure of the system rather than the message
// (credentials rejected, IP not allow-listed).
type SystemicError struct{ Err error }

func (e *SystemicError) Error() string { return "systemic: " + e.Err.Error() }
func (e *SystemicError) Unwrap() error { return e.Err }

// Systemic marks err as systemic: the consumer pauses.
func Systemic(err error) error { return &SystemicError{Err: err} }

// RetryError asks for redelivery after a given delay.
type RetryError struct {
	Err   error
	After time.Duration
	// Busy: the message's work is held up by other work in progress (its
	// record is being driven), not failing: it is redelivered however
	// many times it was, never dead-lettered for it.
	Busy bool
	// Wake, if not nil (Busy only), is closed when the work in progress
	// ends in this process: the message then waits here for it, without
	// a handler slot, and is handled again as soon as it is closed.
	Wake <-chan struct{}
	// Resume, if set (with Wake), handles the message again in place of
	// the handler, from where it stopped: what it read of the message is
	// not read again.
	Resume func(ctx context.Context) error
}

func (e *RetryError) Error() string { return fmt.Sprintf("retry in %s: %v", e.After, e.Err) }
func (e *RetryError) Unwrap() error { return e.Err }

// RetryAfter asks for redelivery after d.
func RetryAfter(err error, d time.Duration) error { return &RetryError{Err: err, After: d} }

// Busy asks for redelivery after d of a message whose work waits on other
// work in progress, which ends by itself (a record's lease lapses): unlike
// RetryAfter, the deliveries it costs never count toward a dead letter, and
// the handler's slot is free meanwhile.
func Busy(err error, d time.Duration) error { return &RetryError{Err: err, After: d, Busy: true} }

// BusyUntil is Busy of work in progress in this process, which closes
// wake when it ends: the message waits in this process, without a handler
// slot, until wake is closed (or d has passed: then it is handled again
// and may wait again), rather than travel to the server and back after a
// guessed delay. A message that has waited ParkFor in all is redelivered
// after d instead.
func BusyUntil(err error, d time.Duration, wake <-chan struct{}) error {
	return &RetryError{Err: err, After: d, Busy: true, Wake: wake}
}

// ParkFor bounds how long one message waits in the process in all for
// work in progress to end (BusyUntil) before it is handed back to the
// server.
const ParkFor = 5 * time.Minute

// Unavailable reports whether err is JetStream being out of reach for a
// while — a request that timed out or found no responder, a connection
// down or reconnecting, a stream that did not answer, as during a leader
// election or a restart of the cluster — rather than anything about the
// message: the same request succeeds once the cluster is back.
func Unavailable(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrDisconnected) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &apiErr) && apiErr.Code == 503
}

// ConsumerConfig configures a consume loop.
type ConsumerConfig struct {
	// Concurrency is how many messages are handled at once. Default 4.
	Concurrency int
	// RetryBase is the first redelivery delay; it doubles per delivery up to RetryMax. Default 2s.
	RetryBase time.Duration
	// RetryMax caps the redelivery delay. Default 10m.
	RetryMax time.Duration
	// PauseFor is how long pulling stops after a systemic error. Default 1m.
	PauseFor time.Duration
	// MaxDeliver is Config.MaxDeliver: a failure of that delivery or a later
	// one is dead-lettered. Default 20.
	MaxDeliver int
	// DeadLetterRetryFor bounds the in-process retries of storing a dead
	// letter; after it the message is redelivered later and tried again.
	// Default 30s.
	DeadLetterRetryFor time.Duration
	// AckWait must match the consumer's; InProgress is sent every third of it. Default 60s.
	AckWait time.Duration
	// PullWait is how long one pull request waits for messages before
	// another is made. Default 5s.
	PullWait time.Duration
	// Logger; default none.
	Logger *zap.Logger
	// Observe, if set, is called with every settled message's outcome
	// ("ack", "retry", "dead", "paused") and how long it took to handle
	// and settle (waits for work in progress, BusyUntil, not included).
	Observe func(msg jetstream.Msg, outcome string, took time.Duration)
	// OnSystemic, if set, is called when pulling pauses (alerting, readiness).
	OnSystemic func(err error, paused bool)
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c ConsumerConfig) WithDefaults() ConsumerConfig {
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 2 * time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 10 * time.Minute
	}
	if c.PauseFor <= 0 {
		c.PauseFor = time.Minute
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 20
	}
	if c.AckWait <= 0 {
		c.AckWait = 60 * time.Second
	}
	if c.PullWait <= 0 {
		c.PullWait = 5 * time.Second
	}
	if c.DeadLetterRetryFor <= 0 {
		c.DeadLetterRetryFor = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// Consumer runs a Handler over a JetStream consumer.
type Consumer struct {
	gate    gate
	cfg     ConsumerConfig
	js      jetstream.JetStream
	cons    jetstream.Consumer
	handler Handler
	log     *zap.Logger

	running chan struct{} // a token per running handler: at most Concurrency
	credit  credit        // messages asked for and not yet settled or parked
	parked  atomic.Int32  // messages waiting for work in progress (BusyUntil)
}

// NewConsumer returns a consume loop of handler over cons. Dead letters are
// published through js.
func NewConsumer(js jetstream.JetStream, cons jetstream.Consumer, handler Handler, cfg ConsumerConfig) *Consumer {
	cfg = cfg.WithDefaults()
	return &Consumer{cfg: cfg, js: js, cons: cons, handler: handler, log: cfg.Logger,
		running: make(chan struct{}, cfg.Concurrency), credit: credit{more: make(chan struct{}, 1)}}
}

// Run pulls and handles messages until ctx is canceled, then waits for the
// handlers in flight to settle their messages and returns nil. It returns an
// error only if the consumer does not exist.
//
// Pulling is credit-based: the loop waits until fewer messages are owed
// handling than Concurrency (asked for and not yet settled), and fetches
// that many more; each message starts its handler as it arrives. So a
// message is pulled only when a handler is free to take it (nothing waits
// in this process while other workers idle), a full batch is asked for
// whenever several handlers are free (raising Concurrency raises the pull
// rate), and the library's dispatch goroutine is never blocked by a busy
// handler. A message that waits for work in progress in this process
// (BusyUntil) is not owed meanwhile: the loop pulls another in its place.
// Handed back when that work ends, it runs as soon as fewer than
// Concurrency handlers run, even while a fetch still counts on its credit;
// a message of that fetch then waits, kept alive, for a handler.
func (c *Consumer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		c.gate.stop()
	}()
	failures := 0
	for {
		n := c.credit.take(ctx, c.cfg.Concurrency)
		if n == 0 {
			return nil // stopping
		}
		// A pause holds pulling back before the fetch, so no message is
		// held during it.
		if !c.gate.wait(ctx, nil, 0) {
			c.credit.repay(n)
			return nil
		}
		started, err := c.pull(ctx, n, &wg)
		c.credit.repay(n - started)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, jetstream.ErrConsumerNotFound), errors.Is(err, jetstream.ErrConsumerDeleted):
			return fmt.Errorf("consume: %w", err)
		case err != nil:
			// NATS away, a leader election: pull again after a short wait.
			failures++
			wait := min(time.Duration(failures)*100*time.Millisecond, 5*time.Second)
			if failures == 1 || failures%50 == 0 {
				c.log.Warn("pull failed; retrying", zap.Int("failures", failures), zap.Duration("in", wait), zap.Error(err))
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		default:
			failures = 0
		}
	}
}

// credit counts the messages owed handling: asked for in a fetch, or
// pulled and not yet settled, except while they wait for work in progress
// (BusyUntil).
type credit struct {
	mu   sync.Mutex
	owed int
	more chan struct{} // a token when owed fell
}

// take waits until fewer than limit are owed, then takes the rest up to
// limit and returns how many; 0 once ctx ends.
func (c *credit) take(ctx context.Context, limit int) int {
	for {
		c.mu.Lock()
		if n := limit - c.owed; n > 0 {
			c.owed = limit
			c.mu.Unlock()
			return n
		}
		c.mu.Unlock()
		select {
		case <-c.more:
		case <-ctx.Done():
			return 0
		}
	}
}

// owe counts n more messages owed handling.
func (c *credit) owe(n int) {
	c.mu.Lock()
	c.owed += n
	c.mu.Unlock()
}

// repay counts n messages no longer owed handling.
func (c *credit) repay(n int) {
	if n == 0 {
		return
	}
	c.mu.Lock()
	c.owed -= n
	c.mu.Unlock()
	select {
	case c.more <- struct{}{}:
	default:
	}
}

// pull fetches up to n messages, waiting up to PullWait for the first, and
// starts a handler for each as it arrives. It returns how many handlers
// it started; each repays its credit when its message is settled.
func (c *Consumer) pull(ctx context.Context, n int, wg *sync.WaitGroup) (int, error) {
	fctx, cancel := context.WithTimeout(ctx, c.cfg.PullWait)
	defer cancel()
	batch, err := c.cons.Fetch(n, jetstream.FetchContext(fctx))
	if err != nil {
		return 0, err
	}
	started := 0
	for msg := range batch.Messages() {
		started++
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A pause that began as this batch arrived: the message waits,
			// kept alive, for it to end. Every message pulled is handled and
			// settled, even when the consumer stops meanwhile: a message
			// dropped on its last delivery would never come back.
			_ = c.gate.wait(ctx, msg, c.cfg.AckWait/3)
			if serr := c.handle(ctx, msg); serr != nil {
				c.pause(serr)
			}
		}()
	}
	if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return started, err
	}
	return started, nil
}

// pause stops pulling for PauseFor after a systemic failure. Handlers
// already running finish; nothing new is pulled meanwhile.
func (c *Consumer) pause(err error) {
	if !c.gate.close() {
		return // already paused
	}
	c.log.Error("pulling paused: systemic failure", zap.Duration("pause", c.cfg.PauseFor), zap.Error(err))
	if c.cfg.OnSystemic != nil {
		c.cfg.OnSystemic(err, true)
	}
	c.gate.reopenAfter(c.cfg.PauseFor, func() {
		if c.cfg.OnSystemic != nil {
			c.cfg.OnSystemic(nil, false)
		}
		c.log.Info("pulling resumed")
	})
}

// gate holds new work back while the consumer is paused.
type gate struct {
	mu     sync.Mutex
	closed chan struct{} // non-nil while paused; closed when it reopens
	timer  *time.Timer
}

// close pauses; it reports false if already paused.
func (g *gate) close() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed != nil {
		return false
	}
	g.closed = make(chan struct{})
	return true
}

// reopenAfter reopens the gate after d, calling before first.
func (g *gate) reopenAfter(d time.Duration, before func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.timer = time.AfterFunc(d, func() {
		before()
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.closed != nil {
			close(g.closed)
			g.closed = nil
		}
	})
}

func (g *gate) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.timer != nil {
		g.timer.Stop()
	}
}

// wait returns true once the gate is open, false if ctx ends first. A msg
// that is not nil is kept alive meanwhile, with InProgress every heartbeat.
func (g *gate) wait(ctx context.Context, msg jetstream.Msg, heartbeat time.Duration) bool {
	for {
		g.mu.Lock()
		ch := g.closed
		g.mu.Unlock()
		if ch == nil {
			return true
		}
		var beat <-chan time.Time
		var t *time.Timer
		if msg != nil {
			t = time.NewTimer(heartbeat)
			beat = t.C
		}
		select {
		case <-ch:
		case <-ctx.Done():
		case <-beat:
			_ = msg.InProgress()
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return false
		}
	}
}

// handle runs the handler with InProgress heartbeats and settles the
// message, repaying its credit. It takes a handler token first, waiting
// for one (kept alive) if Concurrency handlers run. A message that waits
// for work in progress in this process (BusyUntil) gives its token and
// its credit back meanwhile, and takes them again to be handled again.
// It returns the error if it was systemic.
func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg) error {
	defer c.credit.repay(1)
	// In-flight work finishes even when the consumer stops: a provider
	// call cut short is an uncertain one. Provider timeouts bound it.
	hctx := context.WithoutCancel(ctx)
	var took, parked time.Duration
	var resume func(context.Context) error
	c.acquire(msg)
	for {
		start := time.Now()
		err := c.attempt(hctx, msg, resume)
		took += time.Since(start)
		var retry *RetryError
		if errors.As(err, &retry) && retry.Wake != nil && parked < ParkFor && ctx.Err() == nil {
			resume = retry.Resume
			wait := time.Now()
			woke := c.waitFor(ctx, msg, retry)
			parked += time.Since(wait)
			if woke {
				continue
			}
		}
		start = time.Now()
		sctx, cancel := context.WithTimeout(hctx, 10*time.Second)
		outcome, systemic := c.settle(sctx, msg, err)
		cancel()
		took += time.Since(start)
		<-c.running
		if c.cfg.Observe != nil {
			c.cfg.Observe(msg, outcome, took)
		}
		return systemic
	}
}

// acquire takes a handler token, keeping msg alive while it waits.
func (c *Consumer) acquire(msg jetstream.Msg) {
	select {
	case c.running <- struct{}{}:
		return
	default:
	}
	defer startHeartbeat(msg, c.cfg.AckWait/3).stop()
	c.running <- struct{}{}
}

// waitFor waits, without msg's handler token, for the work in progress
// that retry names (BusyUntil), and then takes a token again. It reports
// whether msg is to be handled again; false: the consumer stops, settle
// it as it is.
func (c *Consumer) waitFor(ctx context.Context, msg jetstream.Msg, retry *RetryError) bool {
	<-c.running
	// Its credit pays for another message meanwhile, unless Concurrency
	// messages wait so already: the messages this process holds stay
	// within twice Concurrency.
	repaid := c.parked.Add(1) <= int32(c.cfg.Concurrency)
	if repaid {
		c.credit.repay(1)
	}
	woke := c.park(ctx, msg, retry.Wake, retry.After)
	c.parked.Add(-1)
	if repaid {
		c.credit.owe(1)
	}
	c.acquire(msg)
	return woke
}

// attempt runs the handler once (or resume, if set), with InProgress
// heartbeats every third of AckWait.
func (c *Consumer) attempt(ctx context.Context, msg jetstream.Msg, resume func(context.Context) error) error {
	defer startHeartbeat(msg, c.cfg.AckWait/3).stop()
	if resume != nil {
		return resume(ctx)
	}
	return c.handler(ctx, msg)
}

// heartbeat sends InProgress for a message at an interval until stopped:
// a timer, not a goroutine, as most handlers finish well before the first.
type heartbeat struct {
	mu      sync.Mutex
	t       *time.Timer
	stopped bool
}

func startHeartbeat(msg jetstream.Msg, every time.Duration) *heartbeat {
	h := &heartbeat{}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.t = time.AfterFunc(every, func() {
		_ = msg.InProgress()
		h.mu.Lock()
		defer h.mu.Unlock()
		if !h.stopped {
			h.t.Reset(every)
		}
	})
	return h
}

func (h *heartbeat) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	h.t.Stop()
}

// park keeps msg, without a handler slot, until wake is closed or d has
// passed (true: handle it again), or the consumer stops (false: settle it
// as it is), with InProgress heartbeats meanwhile.
func (c *Consumer) park(ctx context.Context, msg jetstream.Msg, wake <-chan struct{}, d time.Duration) bool {
	defer startHeartbeat(msg, c.cfg.AckWait/3).stop()
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	select {
	case <-wake:
		return true
	case <-timeout.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// settle is the one place a handler's result becomes Ack, NakWithDelay or
// Term + dead letter.
func (c *Consumer) settle(ctx context.Context, msg jetstream.Msg, err error) (outcome string, systemic error) {
	meta, merr := msg.Metadata()
	delivered := uint64(1)
	var seq uint64
	if merr == nil {
		delivered = meta.NumDelivered
		seq = meta.Sequence.Stream
	}
	logger := func() *zap.Logger { // not built for an ack, which writes no line
		return c.log.With(zap.String("subject", msg.Subject()), zap.Uint64("seq", seq),
			zap.String("msg_id", msg.Headers().Get(nats.MsgIdHdr)), zap.Uint64("delivery", delivered))
	}
	if err == nil {
		// The ack is not waited for: one that is lost only brings the
		// message back, and handling it again changes nothing (every
		// handler is idempotent), so a confirmation would buy a log line
		// for a round trip of every message's handler slot. A stopping
		// worker drains its connection, which sends the acks still queued.
		if aerr := msg.Ack(); aerr != nil {
			logger().Warn("ack not sent; the message will be redelivered", zap.Error(aerr))
		}
		return "ack", nil
	}
	log := logger()
	var perm *PermanentError
	var sys *SystemicError
	var retry *RetryError
	switch {
	case errors.As(err, &sys):
		if delivered >= uint64(c.cfg.MaxDeliver) {
			// JetStream will not deliver it again: keep it in DEAD rather
			// than lose it, and still pause.
			return c.deadLetter(ctx, msg, log, fmt.Errorf("gave up after %d deliveries: %w", delivered, err)), err
		}
		_ = msg.NakWithDelay(c.cfg.PauseFor)
		return "paused", err
	case errors.As(err, &perm):
		return c.deadLetter(ctx, msg, log, err), nil
	case errors.As(err, &retry) && retry.Busy:
		log.Debug("busy; retrying later", zap.Duration("after", retry.After), zap.Error(err))
		_ = msg.NakWithDelay(retry.After)
		return "retry", nil
	case delivered >= uint64(c.cfg.MaxDeliver):
		return c.deadLetter(ctx, msg, log, fmt.Errorf("gave up after %d deliveries: %w", delivered, err)), nil
	case errors.As(err, &retry):
		log.Info("retrying later", zap.Duration("after", retry.After), zap.Error(err))
		_ = msg.NakWithDelay(retry.After)
		return "retry", nil
	default:
		delay := c.retryDelay(delivered)
		log.Warn("handler failed; retrying", zap.Duration("after", delay), zap.Error(err))
		_ = msg.NakWithDelay(delay)
		return "retry", nil
	}
}

// storeDeadLetter publishes the dead letter, retrying with backoff for up
// to DeadLetterRetryFor (a stream leader election, DEAD briefly away) and
// keeping msg alive meanwhile. The dedup id makes a retry after a lost
// PubAck harmless.
func (c *Consumer) storeDeadLetter(msg jetstream.Msg, id string, h nats.Header) error {
	bo := backoff.NewExponentialBackOff(backoff.WithInitialInterval(100*time.Millisecond),
		backoff.WithMaxInterval(2*time.Second), backoff.WithMaxElapsedTime(c.cfg.DeadLetterRetryFor))
	lastBeat := time.Now()
	return backoff.Retry(func() error {
		if time.Since(lastBeat) > c.cfg.AckWait/3 {
			_ = msg.InProgress()
			lastBeat = time.Now()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := Publish(ctx, c.js, deadSubjectPrefix+msg.Subject(), id, msg.Data(), h)
		return err
	}, bo)
}

func (c *Consumer) retryDelay(delivered uint64) time.Duration {
	d := c.cfg.RetryBase
	for i := uint64(1); i < delivered && d < c.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, c.cfg.RetryMax)
}

// Headers of a dead letter.
const (
	HeaderDeadReason  = "Vpnbill-Dead-Reason"
	HeaderDeadStream  = "Vpnbill-Dead-Stream"
	HeaderDeadSubject = "Vpnbill-Dead-Subject"
	HeaderDeadSeq     = "Vpnbill-Dead-Seq"
	HeaderDeadCount   = "Vpnbill-Dead-Deliveries"
	HeaderDeadTime    = "Vpnbill-Dead-Time"
)

// deadLetter copies msg to stream DEAD with the reason, then terms it. If the
// copy cannot be stored, even after retrying in the process for
// DeadLetterRetryFor, the message is Nak'ed instead and comes back: nothing
// is dropped.
func (c *Consumer) deadLetter(ctx context.Context, msg jetstream.Msg, log *zap.Logger, cause error) string {
	meta, _ := msg.Metadata()
	var stream string
	var seq, delivered uint64
	if meta != nil {
		stream, seq, delivered = meta.Stream, meta.Sequence.Stream, meta.NumDelivered
	}
	h := nats.Header{}
	for k, v := range msg.Headers() {
		h[k] = v
	}
	h.Del(nats.MsgIdHdr)
	reason := cause.Error()
	if len(reason) > 1000 {
		reason = reason[:1000]
	}
	h.Set(HeaderDeadReason, reason)
	h.Set(HeaderDeadStream, stream)
	h.Set(HeaderDeadSubject, msg.Subject())
	h.Set(HeaderDeadSeq, strconv.FormatUint(seq, 10))
	h.Set(HeaderDeadCount, strconv.FormatUint(delivered, 10))
	h.Set(HeaderDeadTime, time.Now().UTC().Format(time.RFC3339))
	id := fmt.Sprintf("dead:%s:%d", stream, seq)
	if err := c.storeDeadLetter(msg, id, h); err != nil {
		// The consumer never stops redelivering (its MaxDeliver is
		// unlimited): the next delivery tries again.
		log.Error("dead letter not stored; the message comes back to try again", zap.NamedError("cause", cause), zap.Error(err))
		_ = msg.NakWithDelay(c.retryDelay(delivered))
		return "retry"
	}
	log.Error("dead-lettered", zap.Error(cause))
	// Finance and operators see it in the audit trail too; the dead letter
	// itself is what matters, so a failure here is only logged.
	a := Audit{ID: fmt.Sprintf("%s:%s:%d", AuditDeadLettered, stream, seq), Kind: AuditDeadLettered,
		StripeEvent: msg.Headers().Get(nats.MsgIdHdr), StripeType: strings.TrimPrefix(msg.Subject(), stripeSubjectPrefix), Reason: reason}
	if err := PublishAudit(ctx, c.js, a); err != nil {
		log.Warn("dead-letter audit not stored", zap.Error(err))
	}
	_ = msg.TermWithReason("dead-lettered")
	return "dead"
}
