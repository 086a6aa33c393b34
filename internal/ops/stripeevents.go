package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbill/vpnbill/internal/events"
)

// Outcome is what became of a Stripe event stored in STRIPE, as the audit
// trail tells it.
type Outcome string

// The outcomes.
const (
	// OutcomeApplied: a fact of the event changed an account record
	// (audit fact.applied with its event id).
	OutcomeApplied Outcome = "applied"
	// OutcomeSkipped: the worker read the event and it changed nothing:
	// stale, of the other Stripe mode, of a kind that concerns no account
	// (audit fact.skipped; Detail says why).
	OutcomeSkipped Outcome = "skipped"
	// OutcomeDeadLettered: this stored message could not be handled and is
	// (or was) in DEAD (audit dead.lettered naming its deduplication id).
	OutcomeDeadLettered Outcome = "dead-lettered"
	// OutcomeNoChange: the worker acknowledged this message and nothing was
	// audited of it (e.g. a replay of an event whose fact had not been
	// applied is handled like the first delivery would be).
	OutcomeNoChange Outcome = "handled"
	// OutcomePending: not handled yet: waiting for, or being retried by,
	// the worker.
	OutcomePending Outcome = "pending"
)

// StripeEvent is a Stripe event as stream STRIPE stores it, with what
// became of it. Only the envelope is read: never the payload's rest.
type StripeEvent struct {
	Seq      uint64    `json:"seq"`                // its sequence in STRIPE
	Stored   time.Time `json:"stored"`             // when STRIPE stored it
	Created  time.Time `json:"created,omitzero"`   // Stripe's created time
	ID       string    `json:"id"`                 // the Stripe event id
	Type     string    `json:"type"`               //
	Object   string    `json:"object,omitempty"`   // the id of its data.object (a checkout session, an invoice …)
	Livemode bool      `json:"livemode,omitempty"` //
	// MsgID is the stored message's deduplication id: the event id as the
	// webhook or stripe-sync stored it, replay:<event id>:<unix> for a
	// replay, retry:<stream>:<seq>:<unix> for a dead letter retried.
	MsgID string `json:"msg_id"`
	// Handled: the worker's consumer has acknowledged (or terminated) the
	// message; false also when no worker has started.
	Handled bool    `json:"handled"`
	Outcome Outcome `json:"outcome"`
	// Detail: why it was skipped or dead-lettered.
	Detail string `json:"detail,omitempty"`
	// Accounts: the account records its facts were applied to or skipped for.
	Accounts []string `json:"accounts,omitempty"`
}

// Copy names what stored this message if not the event's own delivery:
// "replay" or "retry" (of a dead letter); "" for the delivery itself.
func (e StripeEvent) Copy() string {
	switch {
	case strings.HasPrefix(e.MsgID, "replay:"):
		return "replay"
	case strings.HasPrefix(e.MsgID, "retry:"):
		return "retry"
	}
	return ""
}

// EventPage is a page of STRIPE's newest events, newest first.
type EventPage struct {
	Events []StripeEvent `json:"events"`
	// Older: the Before of the next page of older events; 0 if none.
	Older uint64 `json:"older,omitempty"`
	// Last: the newest sequence in STRIPE.
	Last uint64 `json:"last"`
}

// stripeEnvelope is what the page reads of a stored event.
type stripeEnvelope struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Created  int64  `json:"created"`
	Livemode bool   `json:"livemode"`
	Data     struct {
		Object struct {
			ID string `json:"id"`
		} `json:"object"`
	} `json:"data"`
}

func stripeEventOf(seq uint64, stored time.Time, h nats.Header, data []byte) StripeEvent {
	var env stripeEnvelope
	_ = json.Unmarshal(data, &env) // a body that is not an event shows empty
	e := StripeEvent{Seq: seq, Stored: stored.UTC(), ID: env.ID, Type: env.Type, Object: env.Data.Object.ID,
		Livemode: env.Livemode, MsgID: h.Get(nats.MsgIdHdr), Outcome: OutcomePending}
	if env.Created > 0 {
		e.Created = time.Unix(env.Created, 0).UTC()
	}
	return e
}

// outcomeKinds are the audits that say what became of a Stripe event.
var outcomeKinds = []events.AuditKind{events.AuditFactApplied, events.AuditFactSkipped, events.AuditDeadLettered}

// auditSlack: how long before a Stripe event was stored in STRIPE an audit
// of it may be stored (the streams' leaders' clocks may differ);
// outcomeWithin: how long after, at most, the audits of its outcome are
// looked for. A later audit of it (the worker was down for longer) is not
// seen: the event then shows as handled, or pending.
const (
	auditSlack    = time.Minute
	outcomeWithin = 24 * time.Hour
)

// StripeEvents returns up to limit (default 100) of the Stripe events
// stored in STRIPE before sequence before (0: the newest), newest first,
// each with its outcome: the audits of its event id (applied, skipped)
// and of its message (dead-lettered), else whether the worker's consumer
// has acknowledged it. It reads the page's messages and the outcome audits
// stored from shortly before the oldest of them to outcomeWithin after the
// newest: in proportion to the page and the traffic of its time, never to
// the whole history.
func (o *Ops) StripeEvents(ctx context.Context, before uint64, limit int) (EventPage, error) {
	if limit <= 0 {
		limit = 100
	}
	s, err := o.JS.Stream(ctx, events.StreamStripe)
	if err != nil {
		return EventPage{}, fmt.Errorf("stream %s: %w", events.StreamStripe, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return EventPage{}, fmt.Errorf("stream %s: %w", events.StreamStripe, err)
	}
	page := EventPage{Events: []StripeEvent{}, Last: info.State.LastSeq}
	last := info.State.LastSeq
	if before > 0 && before-1 < last {
		last = before - 1
	}
	first := info.State.FirstSeq
	if info.State.Msgs == 0 || last < first || last == 0 {
		return page, nil
	}
	from := first
	if last-first+1 > uint64(limit) {
		from = last - uint64(limit) + 1
		page.Older = from
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{stripeSubjects + ">"},
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from}
	var oldest, newest time.Time
	err = o.scan(ctx, events.StreamStripe, cfg, func(m jetstream.Msg) error {
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		if meta.Sequence.Stream > last {
			return errStop
		}
		if oldest.IsZero() {
			oldest = meta.Timestamp
		}
		newest = meta.Timestamp
		page.Events = append(page.Events, stripeEventOf(meta.Sequence.Stream, meta.Timestamp, m.Headers(), m.Data()))
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return page, err
	}
	if len(page.Events) == 0 {
		return page, nil
	}
	if err := o.outcomes(ctx, oldest.Add(-auditSlack), newest.Add(outcomeWithin), page.Events); err != nil {
		return page, err
	}
	slices.Reverse(page.Events)
	return page, nil
}

// StripeEventAt returns the Stripe event STRIPE holds at seq, with its
// outcome (ErrNoEvent if none).
func (o *Ops) StripeEventAt(ctx context.Context, seq uint64) (StripeEvent, error) {
	m, err := o.stripeMsg(ctx, seq)
	if err != nil {
		return StripeEvent{}, err
	}
	evs := []StripeEvent{stripeEventOf(m.Sequence, m.Time, m.Header, m.Data)}
	if err := o.outcomes(ctx, m.Time.Add(-auditSlack), m.Time.Add(outcomeWithin), evs); err != nil {
		return StripeEvent{}, err
	}
	return evs[0], nil
}

// errStop ends a scan early.
var errStop = errors.New("stop")

// outcomes sets the outcome of evs from the outcome audits stored in AUDIT
// between since and until, and the worker's consumer's acknowledgements.
func (o *Ops) outcomes(ctx context.Context, since, until time.Time, evs []StripeEvent) error {
	byEvent := map[string][]int{}
	byMsg := map[string][]int{} // one id twice: stored again after the duplicate window
	for i, e := range evs {
		if e.ID != "" {
			byEvent[e.ID] = append(byEvent[e.ID], i)
		}
		if e.MsgID != "" {
			byMsg[e.MsgID] = append(byMsg[e.MsgID], i)
		}
	}
	type seen struct {
		applied, skipped bool
		skipReason       string
		accounts         []string
	}
	facts := map[string]*seen{}
	dead := map[int]string{} // event index → dead letter reason
	filter := make([]string, 0, len(outcomeKinds))
	for _, k := range outcomeKinds {
		filter = append(filter, events.AuditSubject(k))
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: filter, DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &since}
	err := o.scan(ctx, events.StreamAudit, cfg, func(m jetstream.Msg) error {
		if meta, err := m.Metadata(); err == nil && meta.Timestamp.After(until) {
			return errStop
		}
		a, err := events.DecodeAudit(m.Data())
		if err != nil {
			return nil //nolint:nilerr // another version's audit says nothing here
		}
		switch a.Kind {
		case events.AuditDeadLettered:
			for _, i := range byMsg[a.StripeEvent] {
				dead[i] = a.Reason
			}
		case events.AuditFactApplied, events.AuditFactSkipped:
			if _, ok := byEvent[a.StripeEvent]; !ok {
				return nil
			}
			f := facts[a.StripeEvent]
			if f == nil {
				f = &seen{}
				facts[a.StripeEvent] = f
			}
			if a.Kind == events.AuditFactApplied {
				f.applied = true
			} else {
				f.skipped, f.skipReason = true, a.Reason
			}
			if a.Account != "" && !slices.Contains(f.accounts, a.Account) {
				f.accounts = append(f.accounts, a.Account)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	var ackFloor uint64
	if c, err := o.JS.Consumer(ctx, events.StreamStripe, events.ConsumerWorker); err == nil {
		if ci, err := c.Info(ctx); err == nil {
			ackFloor = ci.AckFloor.Stream
		}
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("consumer %s: %w", events.ConsumerWorker, err)
	}
	for i := range evs {
		e := &evs[i]
		e.Handled = e.Seq <= ackFloor
		f := facts[e.ID]
		if f != nil {
			e.Accounts = f.accounts
		}
		reason, wasDead := dead[i]
		switch {
		case f != nil && f.applied:
			e.Outcome = OutcomeApplied
		case wasDead:
			e.Outcome, e.Detail = OutcomeDeadLettered, reason
		case f != nil && f.skipped:
			e.Outcome, e.Detail = OutcomeSkipped, f.skipReason
		case e.Handled:
			e.Outcome = OutcomeNoChange
		default:
			e.Outcome = OutcomePending
		}
	}
	return nil
}
