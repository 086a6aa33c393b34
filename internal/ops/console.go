package ops

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

// What the web console (internal/console) reads besides the operations
// vpnbillctl runs: the overview's figures, an account's timeline, and the
// report as CSV.

// ConsumerLag is how far a durable consumer is behind its stream.
type ConsumerLag struct {
	Stream   string `json:"stream"`
	Consumer string `json:"consumer"`
	// Absent: the consumer does not exist (no worker has started yet).
	Absent bool `json:"absent,omitempty"`
	// Pending: stored messages not yet delivered; AckPending: delivered
	// and not yet acknowledged; Redelivered: of those, delivered again.
	Pending     uint64 `json:"pending"`
	AckPending  int    `json:"ack_pending"`
	Redelivered int    `json:"redelivered"`
}

// Overview is the console's first page: what needs an operator now.
type Overview struct {
	Now         time.Time     `json:"now"`
	DeadLetters uint64        `json:"dead_letters"` // messages in DEAD
	Reviews     int           `json:"reviews"`      // records in review
	Consumers   []ConsumerLag `json:"consumers"`
	// EventsLastHour: Stripe events stored in STRIPE in the last hour
	// (replays and dead-letter retries included).
	EventsLastHour uint64 `json:"events_last_hour"`
	// LastReconcile: the newest recorded reconcile run (LastReconcile),
	// from vpnbillctl or the console; nil if none is recorded.
	LastReconcile *ReconcileRun `json:"last_reconcile,omitempty"`
}

// PerMinute is the events of the last hour per minute.
func (o Overview) PerMinute() float64 { return float64(o.EventsLastHour) / 60 }

// Overview counts the dead letters and the records in review, reads the
// workers' consumers' lag, counts the Stripe events of the last hour and
// reads the last reconcile run's result.
func (o *Ops) Overview(ctx context.Context) (Overview, error) {
	ov := Overview{Now: o.now().UTC()}
	dead, err := o.JS.Stream(ctx, events.StreamDead)
	if err != nil {
		return ov, fmt.Errorf("stream %s: %w", events.StreamDead, err)
	}
	info, err := dead.Info(ctx)
	if err != nil {
		return ov, fmt.Errorf("stream %s: %w", events.StreamDead, err)
	}
	ov.DeadLetters = info.State.Msgs
	reviews, err := o.Reviews(ctx)
	if err != nil {
		return ov, err
	}
	ov.Reviews = len(reviews)
	for _, c := range []struct{ stream, name string }{
		{events.StreamStripe, events.ConsumerWorker}, {events.StreamTimers, events.ConsumerTimers},
	} {
		lag := ConsumerLag{Stream: c.stream, Consumer: c.name}
		cons, err := o.JS.Consumer(ctx, c.stream, c.name)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			lag.Absent = true
			ov.Consumers = append(ov.Consumers, lag)
			continue
		}
		if err != nil {
			return ov, fmt.Errorf("consumer %s: %w", c.name, err)
		}
		ci, err := cons.Info(ctx)
		if err != nil {
			return ov, fmt.Errorf("consumer %s: %w", c.name, err)
		}
		lag.Pending, lag.AckPending, lag.Redelivered = ci.NumPending, ci.NumAckPending, ci.NumRedelivered
		ov.Consumers = append(ov.Consumers, lag)
	}
	stripe, err := o.JS.Stream(ctx, events.StreamStripe)
	if err != nil {
		return ov, fmt.Errorf("stream %s: %w", events.StreamStripe, err)
	}
	si, err := stripe.Info(ctx)
	if err != nil {
		return ov, fmt.Errorf("stream %s: %w", events.StreamStripe, err)
	}
	if si.State.Msgs > 0 {
		seq, found, err := seqAt(ctx, stripe, ov.Now.Add(-time.Hour))
		if err != nil {
			return ov, err
		}
		if found && seq <= si.State.LastSeq {
			ov.EventsLastHour = si.State.LastSeq - seq + 1
		}
	}
	run, ok, err := o.LastReconcile(ctx)
	if err != nil {
		return ov, err
	}
	if ok {
		ov.LastReconcile = &run
	}
	return ov, nil
}

// timelineSlack: how long before its record was created an account's
// first audit may be stored (a fact is audited as the record is written).
const timelineSlack = time.Hour

// Timeline returns the audits of record key, oldest first: those of AUDIT
// stored since shortly before the record was created (the whole stream
// for a key with no record). At most limit are returned, the latest.
func (o *Ops) Timeline(ctx context.Context, key string, limit int) ([]events.Audit, error) {
	cfg := jetstream.OrderedConsumerConfig{}
	st, err := o.store(ctx)
	if err != nil {
		return nil, err
	}
	if r, _, err := st.Get(ctx, key); err == nil && !r.Created.IsZero() {
		start := r.Created.Add(-timelineSlack)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	} else if err != nil && !errors.Is(err, provisioning.ErrNotFound) {
		return nil, err
	}
	var out []events.Audit
	err = o.scan(ctx, events.StreamAudit, cfg, func(m jetstream.Msg) error {
		a, err := events.DecodeAudit(m.Data())
		if err != nil || a.Account != key {
			return nil //nolint:nilerr // another version's audit is not this timeline's
		}
		out = append(out, a)
		if limit > 0 && len(out) > limit {
			out = slices.Delete(out, 0, 1)
		}
		return nil
	})
	return out, err
}

// ReportColumns are the CSV report's columns. Scripts read them by
// position: a new column goes at the end.
var ReportColumns = []string{"status", "time", "account", "stripe_type", "invoice", "checkout_session", "email", "plan",
	"amount", "currency", "paid_from", "paid_to", "provider", "username", "delivered_from", "delivered_to", "refunded",
	"mode", "seats"}

// WriteReportCSV writes rep as CSV: a header of ReportColumns, a row per
// report row, then a "total" row per mode and currency. Amounts are in
// minor units, times RFC 3339 in UTC ("-" for none).
func WriteReportCSV(w io.Writer, rep Report) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(ReportColumns)
	minor := func(m int64) string { return strconv.FormatInt(m, 10) }
	for _, r := range rep.Rows {
		seats := ""
		if r.Seats > 0 {
			seats = strconv.Itoa(r.Seats)
		}
		_ = cw.Write([]string{r.Status, csvTime(r.Time), r.Account, r.StripeType, r.Invoice, r.CheckoutSession, r.Email, r.Plan,
			minor(r.Amount), strings.ToUpper(r.Currency), csvTime(r.PaidFrom), csvTime(r.PaidTo), r.Provider, r.Username,
			csvTime(r.DeliveredFrom), csvTime(r.DeliveredTo), minor(r.Refunded), r.Mode, seats})
	}
	for _, t := range rep.Totals {
		_ = cw.Write([]string{"total", "", "", "", "", "", "", "", minor(t.Amount), strings.ToUpper(t.Currency),
			"", "", "", "", "", "", minor(t.Refunded), t.Mode, ""})
	}
	cw.Flush()
	return cw.Error()
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// AccountsByUsername finds the records whose account at the provider has
// username (a PureVPN username or a VPNKI tunnel; case-sensitive, as the
// providers are), oldest first.
func (o *Ops) AccountsByUsername(ctx context.Context, username string) ([]Account, error) {
	recs, err := o.records(ctx)
	if err != nil {
		return nil, err
	}
	var out []Account
	for _, r := range recs {
		if username != "" && r.Actual.Username == username {
			out = append(out, accountOf(r))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", username, provisioning.ErrNotFound)
	}
	slices.SortFunc(out, func(a, b Account) int { return a.Created.Compare(b.Created) })
	return out, nil
}
