// Package events owns vpnbill's use of NATS JetStream: the subjects, the
// streams, KV buckets and consumers (declared here, and only here), publishing
// with a deduplication id, the consume loop with the one place that maps a
// handler's result to Ack / NakWithDelay / Term + dead letter, the timers
// (a due-time index in stream TIMERS and the scanner that fires it), and
// the audit event contract.
//
// It knows nothing of Stripe's types or of the providers: payloads are bytes.
package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Names of the streams, buckets and consumers vpnbill declares.
const (
	StreamStripe   = "STRIPE"
	StreamAudit    = "AUDIT"
	StreamDead     = "DEAD"
	StreamTimers   = "TIMERS"
	BucketAccounts = "ACCOUNTS"
	ConsumerWorker = "worker"
	ConsumerTimers = "timers"

	stripeSubjectPrefix = "stripe.event."
	auditSubjectPrefix  = "audit."
	deadSubjectPrefix   = "dead."
)

// StripeSubject is the subject a Stripe event of eventType is stored under,
// e.g. "stripe.event.checkout.session.completed". It returns an error for a
// type that is not a valid subject suffix (empty, a wildcard, whitespace).
func StripeSubject(eventType string) (string, error) {
	if !validToken(eventType) {
		return "", fmt.Errorf("event type %q is not a valid subject", eventType)
	}
	return stripeSubjectPrefix + eventType, nil
}

// validToken reports whether s can follow a subject prefix: dot-separated
// non-empty tokens without wildcards or whitespace.
func validToken(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> \t\r\n") {
			return false
		}
	}
	return true
}

// Config sizes and places what Setup declares.
type Config struct {
	// Replicas of every stream and bucket: 1 on one server, 3 in a cluster. Default 1.
	Replicas int
	// StripeMaxAge is how long raw Stripe events are kept for replay. Default 35 days; at least 30 days.
	StripeMaxAge time.Duration
	// DuplicateWindow is how long a Stripe event id is remembered at publish. Default 24h.
	DuplicateWindow time.Duration
	// AuditMaxAge is how long audit events are kept. Default 0: forever.
	AuditMaxAge time.Duration
	// AccountsHistory is how many revisions of each account record are kept. Default 10; at least 5.
	AccountsHistory int
	// AckWait is how long the worker may hold a message before it is redelivered;
	// the consume loop sends InProgress while a handler runs. Default 60s.
	AckWait time.Duration
	// MaxDeliver is how many times a message is delivered before the
	// consume loop dead-letters it (the server keeps delivering until it
	// has). Default 20.
	MaxDeliver int
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.StripeMaxAge == 0 {
		c.StripeMaxAge = 35 * 24 * time.Hour
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = 24 * time.Hour
	}
	if c.AccountsHistory == 0 {
		c.AccountsHistory = 10
	}
	if c.AckWait == 0 {
		c.AckWait = 60 * time.Second
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = 20
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.Replicas != 1 && c.Replicas != 3 && c.Replicas != 5 {
		errs = append(errs, fmt.Errorf("replicas must be 1, 3 or 5, not %d", c.Replicas))
	}
	if c.StripeMaxAge < 30*24*time.Hour {
		errs = append(errs, fmt.Errorf("stripe max age must be at least 30 days, not %s", c.StripeMaxAge))
	}
	if c.DuplicateWindow <= 0 || c.DuplicateWindow > c.StripeMaxAge {
		errs = append(errs, fmt.Errorf("duplicate window %s must be positive and within the stripe max age", c.DuplicateWindow))
	}
	if c.AuditMaxAge < 0 {
		errs = append(errs, fmt.Errorf("audit max age must not be negative"))
	}
	if c.AccountsHistory < 5 || c.AccountsHistory > 64 {
		errs = append(errs, fmt.Errorf("accounts history must be between 5 and 64, not %d", c.AccountsHistory))
	}
	if c.AckWait < time.Second {
		errs = append(errs, fmt.Errorf("ack wait must be at least 1s, not %s", c.AckWait))
	}
	if c.MaxDeliver < 2 {
		errs = append(errs, fmt.Errorf("max deliver must be at least 2, not %d", c.MaxDeliver))
	}
	return errors.Join(errs...)
}

// Topology is what Setup declared, ready to use.
type Topology struct {
	JS       jetstream.JetStream
	Config   Config
	Stripe   jetstream.Stream
	Audit    jetstream.Stream
	Dead     jetstream.Stream
	Timers   jetstream.Stream
	Accounts jetstream.KeyValue
}

// Setup creates or updates every stream and bucket vpnbill uses. It is
// idempotent and safe to run from every process at start.
func Setup(ctx context.Context, js jetstream.JetStream, cfg Config) (*Topology, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("events config: %w", err)
	}
	t := &Topology{JS: js, Config: cfg}
	var err error
	if t.Stripe, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamStripe,
		Description: "Raw Stripe webhook events, as Stripe signed them",
		Subjects:    []string{stripeSubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      cfg.StripeMaxAge,
		Duplicates:  cfg.DuplicateWindow,
		Replicas:    cfg.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("stream %s: %w", StreamStripe, err)
	}
	if t.Audit, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamAudit,
		Description: "What vpnbill applied and did, for finance and operators",
		Subjects:    []string{auditSubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		MaxAge:      cfg.AuditMaxAge,
		Duplicates:  cfg.DuplicateWindow,
		Replicas:    cfg.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("stream %s: %w", StreamAudit, err)
	}
	if _, err = js.CreateOrUpdateStream(ctx, auditLateStream(cfg)); err != nil {
		return nil, fmt.Errorf("stream %s: %w", StreamAuditLate, err)
	}
	if t.Dead, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamDead,
		Description: "Messages that could not be processed, with the cause",
		Subjects:    []string{deadSubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Duplicates:  cfg.DuplicateWindow,
		Replicas:    cfg.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("stream %s: %w", StreamDead, err)
	}
	if t.Timers, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamTimers,
		Description: "Account wake-ups (grace end, deletion, expiry): the due-time index and the due work",
		Subjects:    []string{timerAtPrefix + ">", timerClosedPrefix + ">", timerCursor, timerDuePrefix + ">"},
		Storage:     jetstream.FileStorage,
		// One message per subject: an index entry, a closed minute, the
		// cursor (compare-and-swap on its sequence), a record's due work
		// (a new one replaces the old).
		MaxMsgsPerSubject: 1,
		// Several scanners fire the same entry under one id (see TimerScanner).
		Duplicates: timerDuplicates,
		// No direct gets: a read of the cursor or of a closed-minute marker
		// must come from the stream leader, never from a lagging replica.
		AllowDirect: false,
		Replicas:    cfg.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("stream %s: %w", StreamTimers, err)
	}
	if err := startTimerCursor(ctx, js, t.Timers); err != nil {
		return nil, fmt.Errorf("stream %s: %w", StreamTimers, err)
	}
	if t.Accounts, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketAccounts,
		Description: "One account record per Stripe subscription or one-off order",
		History:     uint8(cfg.AccountsHistory),
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("bucket %s: %w", BucketAccounts, err)
	}
	return t, nil
}

// WorkerConsumer creates or updates the durable pull consumer the workers
// share on stream STRIPE.
func (t *Topology) WorkerConsumer(ctx context.Context) (jetstream.Consumer, error) {
	c, err := t.JS.CreateOrUpdateConsumer(ctx, StreamStripe, jetstream.ConsumerConfig{
		Durable:     ConsumerWorker,
		Description: "vpnbill workers: Stripe events to provider accounts",
		AckPolicy:   jetstream.AckExplicitPolicy,
		AckWait:     t.Config.AckWait,
		// The consume loop dead-letters a message after Config.MaxDeliver
		// deliveries; the server itself never gives up on one, so a message
		// whose dead letter could not be stored yet always comes back.
		MaxDeliver:    -1,
		MaxAckPending: 1000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas:      t.Config.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", ConsumerWorker, err)
	}
	return c, nil
}

// TimerConsumer creates or updates the durable pull consumer the workers
// share on the timers that are due. It only ever holds due work (the
// TimerScanners publish it when it falls due), so its window of
// TimerMaxAckPending is never taken by timers that are not.
func (t *Topology) TimerConsumer(ctx context.Context) (jetstream.Consumer, error) {
	c, err := t.JS.CreateOrUpdateConsumer(ctx, StreamTimers, jetstream.ConsumerConfig{
		Durable:       ConsumerTimers,
		Description:   "vpnbill workers: account timers that are due",
		FilterSubject: timerDuePrefix + ">",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       t.Config.AckWait,
		MaxDeliver:    -1, // a due timer is retried until its record is reconciled
		MaxAckPending: TimerMaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas:      t.Config.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", ConsumerTimers, err)
	}
	return c, nil
}

// Ready reports whether JetStream answers and stream STRIPE exists.
func Ready(ctx context.Context, js jetstream.JetStream) error {
	_, err := js.Stream(ctx, StreamStripe)
	return err
}

// UntilReady calls declare until it succeeds or ctx ends, waiting 0.5s
// doubling to 30s between tries and logging each failure: processes start
// in any order with NATS, and wait for it rather than die.
func UntilReady(ctx context.Context, log *zap.Logger, declare func(ctx context.Context) error) error {
	bo := backoff.NewExponentialBackOff(backoff.WithInitialInterval(500*time.Millisecond),
		backoff.WithMaxInterval(30*time.Second), backoff.WithMaxElapsedTime(0))
	return backoff.RetryNotify(func() error {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := declare(tctx); err != nil {
			if ctx.Err() != nil {
				return backoff.Permanent(ctx.Err())
			}
			return err
		}
		return nil
	}, backoff.WithContext(bo, ctx), func(err error, d time.Duration) {
		log.Warn("JetStream not ready; retrying", zap.Duration("in", d), zap.Error(err))
	})
}
