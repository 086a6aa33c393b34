// Package worker wires vpnbill's worker: the consume loop over stream
// STRIPE, the Stripe translation (billing), the provisioning service, the
// provider adapters, the check that keeps events of the Stripe mode the
// deployment does not serve away from them, and the one switch that turns a
// handling error into the consume loop's intent (retry, retry after, dead
// letter, pause).
package worker

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
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
	mode       Mode
	// pinned caches the mode pinned in bucket ACCOUNTS (Mode.Livemode
	// nil): 0 not read yet, else pinnedTest or pinnedLive. A pin never
	// changes, so it is read once per process.
	pinned    atomic.Int32
	log       *zap.Logger
	failpoint func(string)
}

// The values of Worker.pinned once the pin is known.
const (
	pinnedTest int32 = 1
	pinnedLive int32 = 2
)

// Mode says which Stripe mode, live or test, a Worker serves. An event of
// the other mode is acknowledged, counted and audited as skipped; it never
// reaches a provider or a customer.
type Mode struct {
	// Livemode is the mode served as the configuration decides it
	// (STRIPE_MODE, or STRIPE_API_KEY's mode): true live, false test. nil:
	// the mode pinned in Pins by the first event the deployment processes
	// (provisioning.Store.PinMode), whichever worker handles it.
	Livemode *bool
	// Pins is the store of bucket ACCOUNTS, where the mode is pinned.
	// Required when Livemode is nil.
	Pins *provisioning.Store
	// Skipped, if not nil, is called with the mode of each event skipped
	// for being of the other mode (metrics.Worker.OtherMode).
	Skipped func(live bool)
}

// New returns a Worker serving the Stripe mode mode decides. failpoint, if
// not nil, is called with "before.ack" once an event is applied (crash
// tests end the process there).
func New(t *billing.Translator, svc *provisioning.Service, mode Mode, failpoint func(string), log *zap.Logger) *Worker {
	if log == nil {
		log = zap.NewNop()
	}
	if failpoint == nil {
		failpoint = func(string) {}
	}
	return &Worker{translator: t, svc: svc, mode: mode, log: log, failpoint: failpoint}
}

// Handle is the events.Handler of stream STRIPE.
func (w *Worker) Handle(ctx context.Context, msg jetstream.Msg) error {
	// The mode is checked as soon as the envelope is read, before the
	// event is translated: an event of the other mode is skipped even if
	// it is malformed or names an unknown plan, and its objects are never
	// looked up through the Stripe API (a live key does not read test-mode
	// objects, nor a test key live ones).
	ev, err := billing.ReadEvent(msg.Data()) // read once: the envelope here, the object by the translator
	if err != nil {
		return events.Permanent(err)
	}
	env := ev.Envelope
	servedLive, err := w.servedMode(ctx, env)
	if err != nil {
		return err
	}
	if env.Livemode != servedLive {
		return w.skipOtherMode(ctx, msg.Data(), env, servedLive)
	}
	fact, err := w.translator.TranslateEvent(ctx, ev)
	switch {
	case errors.Is(err, billing.ErrIgnored):
		w.log.Info("event changes nothing", factFields(fact, zap.Error(err))...)
		return w.svc.Skipped(ctx, fact, err.Error())
	case errors.Is(err, billing.ErrMalformed), errors.Is(err, billing.ErrUnknownPlan):
		return events.Permanent(err)
	case err != nil:
		return err
	}
	return w.apply(ctx, fact)
}

// apply applies a translated fact. A fact whose record another handler of
// this process holds waits for it (events.BusyUntil) and is then applied
// again as it is, not read and translated again (nor its line items
// fetched again).
func (w *Worker) apply(ctx context.Context, fact billing.Fact) error {
	err := classify(w.svc.Apply(ctx, fact))
	var retry *events.RetryError
	switch {
	case err == nil:
		if ce := w.log.Check(zap.DebugLevel, "event applied"); ce != nil {
			ce.Write(factFields(fact)...)
		}
		w.failpoint("before.ack")
	case errors.As(err, &retry) && retry.Wake != nil:
		retry.Resume = func(ctx context.Context) error { return w.apply(ctx, fact) }
	}
	return err
}

// factFields are the log fields naming a fact, then more.
func factFields(f billing.Fact, more ...zap.Field) []zap.Field {
	return append([]zap.Field{zap.String("event", f.EventID), zap.String("type", f.EventType), zap.String("account", f.Key)}, more...)
}

// servedMode is the Stripe mode the worker serves: true live, false test.
// Unless the configuration decides it, the first event pins its own mode
// (once per deployment; every worker gets the first pin) and the pin is
// kept in the process from then on.
func (w *Worker) servedMode(ctx context.Context, env billing.Envelope) (bool, error) {
	if w.mode.Livemode != nil {
		return *w.mode.Livemode, nil
	}
	switch w.pinned.Load() {
	case pinnedLive:
		return true, nil
	case pinnedTest:
		return false, nil
	}
	if w.mode.Pins == nil {
		return false, errors.New("no Stripe mode configured and no bucket to pin one in")
	}
	live, err := w.mode.Pins.PinMode(ctx, env.Livemode, env.ID)
	if err != nil {
		return false, err
	}
	w.remember(live, "pinned in bucket ACCOUNTS by the deployment's first event")
	return live, nil
}

// remember caches the pinned mode, logging it the first time.
func (w *Worker) remember(live bool, how string) {
	v := pinnedTest
	if live {
		v = pinnedLive
	}
	if w.pinned.CompareAndSwap(0, v) {
		w.log.Info("serving one Stripe mode", zap.String("mode", provisioning.ModeName(live)), zap.String("decided", how))
	}
}

// CheckMode logs, at start, which Stripe mode the worker serves. Without a
// configured mode it reads the pin, if there is one yet, and keeps it; with
// one, it warns if the pin says otherwise: a worker of the same deployment
// started without STRIPE_MODE and STRIPE_API_KEY would serve the pinned
// mode. A pin that cannot be read is read again at the first event.
func (w *Worker) CheckMode(ctx context.Context) {
	var pin provisioning.ModePin
	var pinned bool
	var err error
	if w.mode.Pins != nil {
		pin, pinned, err = w.mode.Pins.PinnedMode(ctx)
	}
	if err != nil {
		w.log.Warn("cannot read the pinned Stripe mode yet", zap.Error(err))
	}
	switch {
	case w.mode.Livemode != nil:
		live := *w.mode.Livemode
		w.log.Info("serving one Stripe mode", zap.String("mode", provisioning.ModeName(live)), zap.String("decided", "by STRIPE_MODE or STRIPE_API_KEY"))
		if pinned && pin.Live() != live {
			w.log.Warn("bucket ACCOUNTS pins the other Stripe mode: set STRIPE_MODE on every worker of this deployment",
				zap.String("mode", provisioning.ModeName(live)), zap.String("pinned", pin.Mode), zap.String("pinned_by", pin.Event))
		}
	case pinned:
		w.remember(pin.Live(), "pinned in bucket ACCOUNTS by "+pin.Event)
	case err == nil:
		w.log.Info("no Stripe mode configured or pinned: the first event will pin its mode")
	}
}

// skipOtherMode acknowledges an event of the mode the worker does not
// serve: audited as skipped with a reason naming both modes and the fix,
// logged, counted. Nothing else happens: no record, no provider, no email.
func (w *Worker) skipOtherMode(ctx context.Context, payload []byte, env billing.Envelope, servedLive bool) error {
	// The audit names what ids the event holds, read without the Stripe
	// API; whatever cannot be read is left out.
	offline := billing.Translator{Catalog: w.translator.Catalog}
	fact, _ := offline.Translate(ctx, payload) // the envelope reads, so the fact has its id, type, time and mode
	reason := otherModeReason(env.Livemode, servedLive, w.mode.Livemode != nil)
	if err := w.svc.Skipped(ctx, fact, reason); err != nil {
		return err
	}
	w.log.Warn("event of the other Stripe mode skipped", zap.String("event", env.ID), zap.String("type", env.Type),
		zap.String("account", fact.Key), zap.String("mode", provisioning.ModeName(env.Livemode)),
		zap.String("served", provisioning.ModeName(servedLive)))
	if w.mode.Skipped != nil {
		w.mode.Skipped(env.Livemode)
	}
	return nil
}

// otherModeReason is the audited reason an event of the other mode was
// skipped: both modes, where the served one comes from, and the fix.
func otherModeReason(eventLive, servedLive, configured bool) string {
	event, served := provisioning.ModeName(eventLive), provisioning.ModeName(servedLive)
	from := "pinned in bucket ACCOUNTS by its first event, as neither STRIPE_MODE nor STRIPE_API_KEY is set"
	if configured {
		from = "as STRIPE_MODE or STRIPE_API_KEY says"
	}
	return fmt.Sprintf("%s-mode event, and this deployment serves %s mode (%s): not applied. "+
		"If the deployment is to serve %s mode, set STRIPE_MODE=%s on every worker and replay the skipped events (vpnbillctl replay --since); "+
		"otherwise remove the %s-mode endpoint's signing secret from STRIPE_WEBHOOK_SECRET",
		event, served, from, event, event, event)
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
	var busy *provisioning.BusyError
	var pe *providers.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &leased):
		// A lease holder usually finishes in milliseconds and then
		// releases; a crashed one's lease lapses. Look again soon either
		// way, without holding a handler, and however long it takes: the
		// wait ends by itself, so it never makes a dead letter.
		return events.Busy(err, min(max(time.Until(leased.Until), 250*time.Millisecond), time.Second))
	case errors.As(err, &busy):
		// Another handler here drives the record (a provider call in
		// flight, more often than not): the message waits in this
		// process, without a slot, until that handler lets go, and is
		// handled again then (and at least every second).
		return events.BusyUntil(err, time.Second, busy.Wake)
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
	case events.Unavailable(err):
		// JetStream out of reach (a leader election, a restart): the
		// fault is not the message's, and every step is idempotent. Look
		// again every second until it is back, without the growing delay
		// of a failing message, which after a few busy deliveries would
		// leave a customer waiting a minute after the cluster is back,
		// and never toward a dead letter.
		return events.Busy(err, time.Second)
	}
	return err
}
