// Package worker wires vpnbill's worker: the consume loop over stream
// STRIPE, the Stripe translation (billing), the provisioning service, the
// provider adapters, and the one switch that turns a handling error into the
// consume loop's intent (retry, retry after, dead letter, pause).
package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

// Worker handles Stripe events from stream STRIPE.
type Worker struct {
	translator *billing.Translator
	svc        *provisioning.Service
	log        *zap.Logger
	failpoint  func(string)
}

// New returns a Worker. failpoint, if not nil, is called with "before.ack"
// once an event is applied (crash tests end the process there).
func New(t *billing.Translator, svc *provisioning.Service, failpoint func(string), log *zap.Logger) *Worker {
	if log == nil {
		log = zap.NewNop()
	}
	if failpoint == nil {
		failpoint = func(string) {}
	}
	return &Worker{translator: t, svc: svc, log: log, failpoint: failpoint}
}

// Handle is the events.Handler of stream STRIPE.
func (w *Worker) Handle(ctx context.Context, msg jetstream.Msg) error {
	fact, err := w.translator.Translate(ctx, msg.Data())
	log := w.log.With(zap.String("event", fact.EventID), zap.String("type", fact.EventType), zap.String("account", fact.Key))
	switch {
	case errors.Is(err, billing.ErrIgnored):
		log.Info("event changes nothing", zap.Error(err))
		return w.svc.Skipped(ctx, fact, err.Error())
	case errors.Is(err, billing.ErrMalformed), errors.Is(err, billing.ErrUnknownPlan):
		return events.Permanent(err)
	case err != nil:
		return err
	}
	err = classify(w.svc.Apply(ctx, fact))
	if err == nil {
		log.Debug("event applied")
		w.failpoint("before.ack")
	}
	return err
}

// HandleTimer is the events.Handler of due timers: it reconciles the record
// the timer is for, so the clock drives the same loop as Stripe's events.
// If the record's next wake-up is still ahead (the timer was early: clocks
// a little apart, the wake-up moved, or it was parked by a vpnbill older
// than the due-time index), a wake-up within events.TimerNear is waited for
// (the message comes back then) and a farther one is indexed again, so no
// timer that is not due holds a slot of the consumer for long.
func (w *Worker) HandleTimer(ctx context.Context, msg jetstream.Msg) error {
	key, ok := events.TimerKey(msg.Subject())
	if !ok {
		return events.Permanent(fmt.Errorf("timer subject %q names no account", msg.Subject()))
	}
	if err := classify(w.svc.Reconcile(ctx, key)); err != nil {
		return err
	}
	wake, err := w.svc.NextWake(ctx, key)
	if err != nil {
		return err
	}
	switch wait := time.Until(wake); {
	case wake.IsZero():
		return nil
	case wait <= events.TimerNear:
		return events.RetryAfter(fmt.Errorf("timer for %s not due", key), max(wait, 0)+50*time.Millisecond)
	default:
		return w.svc.Rearm(ctx, key, wake)
	}
}

// classify maps a provisioning error to the consume loop's intent. It is
// the only place that does.
func classify(err error) error {
	var leased *provisioning.LeasedError
	var pe *providers.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &leased):
		// A lease holder usually finishes in milliseconds and then
		// releases; a crashed one's lease lapses. Look again soon either way.
		return events.RetryAfter(err, min(max(time.Until(leased.Until), 250*time.Millisecond), time.Second))
	case errors.Is(err, notify.ErrPermanent), errors.Is(err, provisioning.ErrNoProvider):
		return events.Permanent(err)
	case errors.As(err, &pe):
		switch pe.Class {
		case providers.Rejected:
			return events.Permanent(err)
		case providers.Unauthorized:
			return events.Systemic(err)
		case providers.Throttled:
			if pe.RetryAfter > 0 {
				return events.RetryAfter(err, pe.RetryAfter)
			}
		}
	}
	return err
}
