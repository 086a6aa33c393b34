package ops

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

// Report row statuses. Every status but StatusOK is a mismatch.
const (
	// StatusOK: paid, and an account was created for it (for each seat it
	// paid for).
	StatusOK = "ok"
	// StatusPaidNotProvisioned: a payment for an account never created, or
	// for more seats than accounts were made.
	StatusPaidNotProvisioned = "paid_not_provisioned"
	// StatusProvisionedNotPaid: an account created in the range for which
	// no payment was ever applied (by its record, or the range's audits).
	StatusProvisionedNotPaid = "provisioned_not_paid"
	// StatusCanceledEnabled: the record is canceled or refunded, yet the account is enabled.
	StatusCanceledEnabled = "canceled_still_enabled"
	// StatusRefundDue: an operator gave up delivering the order; it must be refunded.
	StatusRefundDue = "refund_due"
)

// ReportRow is a paid invoice or one-off payment joined with its account,
// or a mismatch. Every row is of one Stripe mode: test-mode payments are
// never counted with live ones.
type ReportRow struct {
	Status          string    `json:"status"`
	Time            time.Time `json:"time,omitzero"` // when Stripe created the payment's event (or the account was created)
	Account         string    `json:"account"`
	StripeType      string    `json:"stripe_type,omitempty"`
	Invoice         string    `json:"invoice,omitempty"`
	CheckoutSession string    `json:"checkout_session,omitempty"`
	Email           string    `json:"email,omitempty"`
	Plan            string    `json:"plan,omitempty"`
	Amount          int64     `json:"amount"`             // minor units
	Currency        string    `json:"currency,omitempty"` // lower case, as Stripe gave it
	PaidFrom        time.Time `json:"paid_from,omitzero"`
	PaidTo          time.Time `json:"paid_to,omitzero"`
	Provider        string    `json:"provider,omitempty"`
	Username        string    `json:"username,omitempty"`
	// DeliveredFrom, DeliveredTo: when the account (its current one, by
	// its record) was created, and its expiry, or the latest one the
	// range's audits say if later.
	DeliveredFrom time.Time `json:"delivered_from,omitzero"`
	DeliveredTo   time.Time `json:"delivered_to,omitzero"`
	// Refunded: how much of the payment was refunded so far (minor units;
	// partial refunds included), as the account record keeps it.
	Refunded int64 `json:"refunded,omitempty"`
	// Mode: the Stripe mode, provisioning.ModeLive or ModeTest: a
	// payment's, as its event says; a mismatch's, as its account record
	// says (empty if there is no record).
	Mode string `json:"mode,omitempty"`
	// Seats: the VPN seats the payment paid for, as its audit says (0: the
	// audit does not say).
	Seats int `json:"seats,omitempty"`
}

// Total is the sum of the payments of one Stripe mode in one currency.
type Total struct {
	Mode     string `json:"mode"` // provisioning.ModeLive or ModeTest
	Currency string `json:"currency"`
	Payments int    `json:"payments"`
	Amount   int64  `json:"amount"`             // minor units
	Refunded int64  `json:"refunded,omitempty"` // of it, refunded so far
}

// Report is the finance reconciliation of a time range.
type Report struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Mode: the one Stripe mode reported (Only), or empty for both, each
	// row and total then naming its own.
	Mode       string      `json:"mode,omitempty"`
	Rows       []ReportRow `json:"rows"`
	Totals     []Total     `json:"totals"`
	Mismatches int         `json:"mismatches"`
}

// paymentTypes are the Stripe event types whose applied facts are payments.
var paymentTypes = map[string]bool{
	"checkout.session.completed":               true,
	"checkout.session.async_payment_succeeded": true,
	"invoice.paid":                             true,
}

// isPayment: an applied purchase or renewal, of any amount: a free trial's
// or a free order's payment of 0 is a row too (the account delivered for
// it is then not "provisioned, not paid").
func isPayment(a events.Audit) bool {
	return a.Kind == events.AuditFactApplied && paymentTypes[a.StripeType]
}

// delivery is what was made for an account: what its record says, or,
// without a record that made one, what the range's audits say.
type delivery struct {
	created        bool
	provider, user string
	from, to       time.Time
	createdAudits  []events.Audit
}

// Report returns the payments made in [from, to) — a row per paid invoice
// (subscriptions) or paid checkout (one-off orders), each joined with the
// account created for it — the mismatches, and the totals per Stripe mode
// and currency. It reads the audits of the range by time (see
// reportindex.go: its window of stream AUDIT, what was stored since the
// previous report, and the range's late audits), never the whole trail,
// and every account record.
func (o *Ops) Report(ctx context.Context, from, to time.Time) (Report, error) {
	rep, _, err := o.ReportWith(ctx, from, to, DefaultLateRule())
	return rep, err
}

// ReportWith is Report under rule, with what it read.
func (o *Ops) ReportWith(ctx context.Context, from, to time.Time, rule LateRule) (Report, ReportStats, error) {
	// The records are read while the audits are.
	var (
		recs    []*provisioning.Record
		recsErr error
		wg      sync.WaitGroup
	)
	wg.Go(func() { recs, recsErr = o.records(ctx) })
	audits, st, err := o.auditsIn(ctx, from, to, rule)
	wg.Wait()
	if err := errors.Join(err, recsErr); err != nil {
		return Report{}, st, err
	}
	return buildReport(from, to, audits, recs), st, nil
}

func inRange(t, from, to time.Time) bool {
	return !t.Before(from) && (to.IsZero() || t.Before(to))
}

// buildReport is the report of audits and records: a pure function. The
// audits are those of the range (by auditAt), in the order they were
// stored; what was delivered for an account, how many seats of a
// subscription got one, and whether one was ever paid for come from the
// records (whatever month that happened in) and from those audits.
func buildReport(from, to time.Time, audits []events.Audit, recs []*provisioning.Record) Report {
	rep := Report{From: from, To: to, Rows: []ReportRow{}, Totals: []Total{}}
	// The mode of each account, for the rows that are no payment.
	accountMode := map[string]string{}
	for _, r := range recs {
		accountMode[r.Key] = provisioning.ModeName(r.Desired.Livemode)
	}
	deliveries := map[string]*delivery{}
	// paid: the accounts whose subscription or order was paid for, a
	// further seat by its first seat's; seatsMade: the seats of each
	// subscription or order (by its first seat's key) with an account made.
	paid := map[string]bool{}
	seatsMade := map[string]map[string]bool{}
	first := func(account string) string { root, _ := provisioning.SeatOf(account); return root }
	made := func(account string) {
		if seatsMade[first(account)] == nil {
			seatsMade[first(account)] = map[string]bool{}
		}
		seatsMade[first(account)][account] = true
	}
	for _, a := range audits {
		switch {
		case a.Kind == events.AuditAccountCreated || a.Kind == events.AuditAccountRenewed:
			d := deliveries[a.Account]
			if d == nil {
				d = &delivery{}
				deliveries[a.Account] = d
			}
			if a.Kind == events.AuditAccountCreated {
				d.created = true
				made(a.Account)
				d.provider, d.user = a.Provider, a.Username
				if d.from.IsZero() || a.PeriodStart.Before(d.from) {
					d.from = a.PeriodStart
				}
				d.createdAudits = append(d.createdAudits, a)
			}
			if a.PeriodEnd.After(d.to) {
				d.to = a.PeriodEnd
			}
		case isPayment(a):
			paid[first(a.Account)] = true
		}
	}
	// The records say what was made and paid for in any month: an account
	// made (its current one: provider, username, when it was created, its
	// expiry), and a purchase or renewal ever applied (Desired.Purchased:
	// the facts of the payment types above).
	for _, r := range recs {
		if r.Desired.Purchased {
			paid[first(r.Key)] = true
		}
		act := r.Actual
		if act.Generation == 0 && act.CreatedAt.IsZero() && !act.Exists {
			continue // no account was ever made for it
		}
		made(r.Key)
		d := deliveries[r.Key]
		if d == nil {
			d = &delivery{}
			deliveries[r.Key] = d
		}
		d.created = true
		if act.Username != "" {
			d.provider, d.user = act.Provider, act.Username
		}
		if !act.CreatedAt.IsZero() {
			d.from = act.CreatedAt
		}
		if act.Expiry.After(d.to) {
			d.to = act.Expiry
		}
	}
	// What was refunded of each payment (by invoice or checkout session).
	refunded := map[string]int64{}
	for _, r := range recs {
		for _, p := range r.Desired.Payments {
			refunded[p.ID] = p.Refunded
			if p.FullRefund && p.Refunded < p.Amount {
				refunded[p.ID] = p.Amount
			}
		}
	}
	type totalKey struct{ mode, currency string }
	totals := map[totalKey]*Total{}
	rowSeen := map[string]bool{}
	for _, a := range audits {
		if !isPayment(a) {
			continue
		}
		var id string
		switch {
		case a.StripeType == "invoice.paid" && a.Invoice != "":
			id = "invoice:" + a.Invoice
		case strings.HasPrefix(a.StripeType, "checkout.session.") && a.Subscription == "":
			id = "checkout:" + a.CheckoutSession
		default:
			continue // a subscription's checkout: its first invoice is the row
		}
		at := a.StripeCreated
		if at.IsZero() {
			at = a.Time
		}
		if rowSeen[id] || !inRange(at, from, to) {
			continue
		}
		rowSeen[id] = true
		row := ReportRow{Status: StatusOK, Time: at, Account: a.Account, StripeType: a.StripeType, Invoice: a.Invoice,
			CheckoutSession: a.CheckoutSession, Email: a.Email, Plan: a.Plan, Amount: a.Amount, Currency: a.Currency,
			PaidFrom: a.PeriodStart, PaidTo: a.PeriodEnd, Mode: provisioning.ModeName(a.Livemode), Seats: a.Seats}
		if a.Invoice != "" {
			row.Refunded = refunded[a.Invoice]
		} else {
			row.Refunded = refunded[a.CheckoutSession]
		}
		if d := deliveries[a.Account]; d != nil && d.created {
			row.Provider, row.Username, row.DeliveredFrom, row.DeliveredTo = d.provider, d.user, d.from, d.to
		} else {
			row.Status = StatusPaidNotProvisioned
		}
		if len(seatsMade[a.Account]) < a.Seats { // fewer accounts made than seats paid for
			row.Status = StatusPaidNotProvisioned
		}
		rep.Rows = append(rep.Rows, row)
		t := totals[totalKey{row.Mode, a.Currency}]
		if t == nil {
			t = &Total{Mode: row.Mode, Currency: a.Currency}
			totals[totalKey{row.Mode, a.Currency}] = t
		}
		t.Payments++
		t.Amount += a.Amount
		t.Refunded += row.Refunded
	}
	for account, d := range deliveries {
		if paid[first(account)] {
			continue
		}
		for _, a := range d.createdAudits {
			if inRange(a.Time, from, to) {
				rep.Rows = append(rep.Rows, ReportRow{Status: StatusProvisionedNotPaid, Time: a.Time, Account: account,
					Email: a.Email, Plan: a.Plan, Provider: a.Provider, Username: a.Username, DeliveredFrom: a.PeriodStart, DeliveredTo: d.to,
					Mode: accountMode[account]})
			}
		}
	}
	for _, r := range recs {
		base := ReportRow{Account: r.Key, Email: r.Desired.Email, Plan: r.Desired.Plan.ID, Provider: r.Actual.Provider,
			Username: r.Actual.Username, DeliveredFrom: r.Actual.CreatedAt, DeliveredTo: r.Actual.Expiry, Mode: accountMode[r.Key]}
		if (r.Desired.Status == provisioning.StatusCanceled || r.Desired.Status == provisioning.StatusRefunded) &&
			r.Actual.Exists && r.Actual.Enabled {
			row := base
			row.Status = StatusCanceledEnabled
			rep.Rows = append(rep.Rows, row)
		}
		if r.RefundDue {
			row := base
			row.Status = StatusRefundDue
			rep.Rows = append(rep.Rows, row)
		}
	}
	slices.SortStableFunc(rep.Rows, func(a, b ReportRow) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Account, b.Account)
	})
	for _, r := range rep.Rows {
		if r.Status != StatusOK {
			rep.Mismatches++
		}
	}
	for _, t := range totals {
		rep.Totals = append(rep.Totals, *t)
	}
	slices.SortFunc(rep.Totals, func(a, b Total) int {
		if c := strings.Compare(a.Mode, b.Mode); c != 0 {
			return c
		}
		return strings.Compare(a.Currency, b.Currency)
	})
	return rep
}

// Only returns the report of one Stripe mode, provisioning.ModeLive or
// ModeTest: its rows, its totals and its mismatches. A mismatch row whose
// mode is unknown (no account record) is kept in either.
func (r Report) Only(mode string) Report {
	out := Report{From: r.From, To: r.To, Mode: mode, Rows: []ReportRow{}, Totals: []Total{}}
	for _, row := range r.Rows {
		if row.Mode == mode || row.Mode == "" {
			out.Rows = append(out.Rows, row)
			if row.Status != StatusOK {
				out.Mismatches++
			}
		}
	}
	for _, t := range r.Totals {
		if t.Mode == mode {
			out.Totals = append(out.Totals, t)
		}
	}
	return out
}
