package metrics

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/ingest"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/providers"
)

// The outcomes of a settled message (events.ConsumerConfig.Observe), the
// values of label "outcome".
var outcomes = []string{"ack", "retry", "dead", "paused"}

// The consumers the worker runs, the values of label "consumer".
var consumers = []string{events.ConsumerWorker, events.ConsumerTimers}

// The error classes of label "class": "ok", a providers.Class, or "other"
// (the call's context ended before any provider answer).
var classes = []providers.Class{providers.NotSent, providers.Uncertain, providers.Rejected,
	providers.Unauthorized, providers.Throttled, providers.Unavailable}

// Worker holds the worker's metrics and the hooks that record them. Create
// it with NewWorker; its methods are safe for concurrent use.
type Worker struct {
	processed     *prometheus.CounterVec
	handled       *prometheus.HistogramVec
	receiptToDone prometheus.Histogram
	deadLetters   *prometheus.CounterVec
	paused        *prometheus.GaugeVec
	pauses        *prometheus.CounterVec
	providerCalls *prometheus.CounterVec
	providerTime  *prometheus.HistogramVec
	emailsSent    prometheus.Counter
	emailsFailed  *prometheus.CounterVec
	otherMode     *prometheus.CounterVec

	mu        sync.Mutex
	pausedNow map[string]bool
}

// NewWorker registers the worker's metrics in reg and returns their hooks:
//
//	vpnbill_worker_events_total{consumer,outcome}        messages settled: ack, retry, dead, paused
//	vpnbill_worker_handle_seconds{consumer}              handling time of one message, settling included, waits for a busy record not
//	vpnbill_worker_receipt_to_done_seconds               webhook receipt to acked or dead-lettered (stream STRIPE)
//	vpnbill_worker_dead_letters_total{consumer}          messages copied to stream DEAD
//	vpnbill_worker_paused{consumer}                      1 while pulling is paused by a systemic failure
//	vpnbill_worker_systemic_pauses_total{consumer}       pauses for a systemic failure (provider unauthorized)
//	vpnbill_provider_calls_total{provider,method,class}  provider calls by outcome: ok or the error class
//	vpnbill_provider_call_seconds{provider,method}       provider call time, retries within the call included
//	vpnbill_worker_emails_sent_total                     emails accepted by the SMTP server
//	vpnbill_worker_emails_failed_total{class}            emails not sent: temporary (retried) or permanent
//	vpnbill_worker_events_other_mode_total{mode}         Stripe events of the mode not served (test, live), skipped
func NewWorker(reg prometheus.Registerer) (*Worker, error) {
	w := &Worker{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "worker", Name: "events_total",
			Help: "Messages settled by the worker, by consumer (worker: Stripe events, timers) and outcome (ack, retry, dead, paused).",
		}, []string{"consumer", "outcome"}),
		handled: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "worker", Name: "handle_seconds",
			Help:    "Time to handle and settle one message, by consumer.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"consumer"}),
		receiptToDone: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "worker", Name: "receipt_to_done_seconds",
			Help:    "Time from the webhook's receipt of a Stripe event to the worker acking or dead-lettering it.",
			Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600},
		}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "worker", Name: "dead_letters_total",
			Help: "Messages copied to stream DEAD (see vpnbillctl dead list), by consumer.",
		}, []string{"consumer"}),
		paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "worker", Name: "paused",
			Help: "1 while the consumer has stopped pulling after a systemic failure (provider credentials or allow-list), else 0.",
		}, []string{"consumer"}),
		pauses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "worker", Name: "systemic_pauses_total",
			Help: "Times the consumer stopped pulling after a systemic failure (provider unauthorized).",
		}, []string{"consumer"}),
		providerCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "provider", Name: "calls_total",
			Help: "Provider API calls, by provider, method and outcome class (ok, not_sent, uncertain, rejected, unauthorized, throttled, unavailable, other).",
		}, []string{"provider", "method", "class"}),
		providerTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "provider", Name: "call_seconds",
			Help:    "Provider API call time, retries within the call included, by provider and method.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30, 60},
		}, []string{"provider", "method"}),
		emailsSent: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "worker", Name: "emails_sent_total",
			Help: "Emails accepted by the SMTP server.",
		}),
		emailsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "worker", Name: "emails_failed_total",
			Help: "Emails not sent, by class: temporary (retried later) or permanent (recorded as failed).",
		}, []string{"class"}),
		otherMode: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "worker", Name: "events_other_mode_total",
			Help: "Stripe events of the mode the deployment does not serve, by the event's mode (test, live): acknowledged and audited as skipped, never applied.",
		}, []string{"mode"}),
		pausedNow: map[string]bool{},
	}
	for _, c := range []prometheus.Collector{w.processed, w.handled, w.receiptToDone, w.deadLetters, w.paused,
		w.pauses, w.providerCalls, w.providerTime, w.emailsSent, w.emailsFailed, w.otherMode} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Every series of a fixed label set exists from the start, at 0, so
	// rate() and increase() see the first event.
	for _, c := range consumers {
		for _, o := range outcomes {
			w.processed.WithLabelValues(c, o)
		}
		w.deadLetters.WithLabelValues(c)
		w.paused.WithLabelValues(c)
		w.pauses.WithLabelValues(c)
	}
	w.emailsFailed.WithLabelValues("temporary")
	w.emailsFailed.WithLabelValues("permanent")
	w.otherMode.WithLabelValues("test")
	w.otherMode.WithLabelValues("live")
	return w, nil
}

// OtherMode counts a Stripe event skipped for being of the mode the
// deployment does not serve: live mode (live) or test mode.
func (w *Worker) OtherMode(live bool) {
	mode := "test"
	if live {
		mode = "live"
	}
	w.otherMode.WithLabelValues(mode).Inc()
}

// Consumer returns cc with its Observe and OnSystemic hooks recording the
// metrics of the named consumer (events.ConsumerWorker or
// events.ConsumerTimers), after calling the hooks cc already had. For the
// worker consumer (stream STRIPE), acked and dead-lettered messages also
// record the receipt-to-done time from their ingest.HeaderReceived.
func (w *Worker) Consumer(name string, cc events.ConsumerConfig) events.ConsumerConfig {
	label := oneOf(name, consumers)
	observe, onSystemic := cc.Observe, cc.OnSystemic
	cc.Observe = func(msg jetstream.Msg, outcome string, took time.Duration) {
		if observe != nil {
			observe(msg, outcome, took)
		}
		w.observeSettled(label, msg, outcome, took)
	}
	cc.OnSystemic = func(err error, paused bool) {
		if onSystemic != nil {
			onSystemic(err, paused)
		}
		w.setPaused(label, paused)
	}
	return cc
}

// observeSettled records one settled message; the events counter last, so
// that whoever sees it counted sees everything else about it too.
func (w *Worker) observeSettled(consumer string, msg jetstream.Msg, outcome string, took time.Duration) {
	outcome = oneOf(outcome, outcomes)
	w.handled.WithLabelValues(consumer).Observe(took.Seconds())
	if outcome == "dead" {
		w.deadLetters.WithLabelValues(consumer).Inc()
	}
	if consumer == events.ConsumerWorker && (outcome == "ack" || outcome == "dead") && msg != nil {
		// No header: stored before it existed, or not by the webhook.
		if received, err := time.Parse(time.RFC3339Nano, msg.Headers().Get(ingest.HeaderReceived)); err == nil {
			w.receiptToDone.Observe(max(time.Since(received), 0).Seconds())
		}
	}
	w.processed.WithLabelValues(consumer, outcome).Inc()
}

func (w *Worker) setPaused(consumer string, paused bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pausedNow[consumer] = paused
	if paused {
		w.paused.WithLabelValues(consumer).Set(1)
		w.pauses.WithLabelValues(consumer).Inc()
	} else {
		w.paused.WithLabelValues(consumer).Set(0)
	}
}

// Paused reports whether any consumer has stopped pulling after a systemic
// failure (for readiness).
func (w *Worker) Paused() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.pausedNow {
		if p {
			return true
		}
	}
	return false
}

// Provider returns a provider client's Observe hook recording provider p's
// calls, calling next (if not nil) first. methods are the values of label
// "method", the methods the client reports (its package's Methods);
// anything else is "other", as is a provider vpnbill does not implement.
func (w *Worker) Provider(p providers.Name, methods []string, next func(method string, err error, took time.Duration)) func(method string, err error, took time.Duration) {
	provider := string(p)
	if !p.Valid() {
		provider = other
	}
	known := slices.Clone(methods)
	return func(method string, err error, took time.Duration) {
		if next != nil {
			next(method, err, took)
		}
		method = oneOf(method, known)
		w.providerCalls.WithLabelValues(provider, method, classOf(err)).Inc()
		w.providerTime.WithLabelValues(provider, method).Observe(took.Seconds())
	}
}

// classOf is the "class" label of a provider call's outcome.
func classOf(err error) string {
	if err == nil {
		return "ok"
	}
	if c := providers.ClassOf(err); slices.Contains(classes, c) {
		return c.String()
	}
	return other
}

// Mailer sends one email; provisioning.Mailer and *notify.Mailer are Mailers.
type Mailer interface {
	Send(ctx context.Context, m notify.Message) error
}

// Mailer returns next wrapped so that each Send is counted as sent or
// failed (temporary, or permanent when the error wraps notify.ErrPermanent).
func (w *Worker) Mailer(next Mailer) Mailer { return countingMailer{next: next, w: w} }

type countingMailer struct {
	next Mailer
	w    *Worker
}

func (m countingMailer) Send(ctx context.Context, msg notify.Message) error {
	err := m.next.Send(ctx, msg)
	switch {
	case err == nil:
		m.w.emailsSent.Inc()
	case errors.Is(err, notify.ErrPermanent):
		m.w.emailsFailed.WithLabelValues("permanent").Inc()
	default:
		m.w.emailsFailed.WithLabelValues("temporary").Inc()
	}
	return err
}

// oneOf returns v if it is in set, else "other".
func oneOf(v string, set []string) string {
	if slices.Contains(set, v) {
		return v
	}
	return other
}
