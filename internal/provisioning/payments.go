package provisioning

import (
	"slices"
	"strings"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing"
)

// Payment is one payment of a record: an invoice of its subscription, or
// the checkout of a one-off order.
type Payment struct {
	ID            string    `json:"id"` // the invoice id, or the checkout session id of a one-off order
	Charge        string    `json:"charge,omitempty"`
	PaymentIntent string    `json:"payment_intent,omitempty"`
	PeriodEnd     time.Time `json:"period_end,omitzero"` // the end of the service it paid for
	Amount        int64     `json:"amount,omitempty"`
	// Refunded: refunded of it now, net of refunds that failed or were
	// canceled since; FullRefund: all of it (Stripe's "refunded", unless a
	// refund failed since). Both are settled from the fields below them
	// (see settle); a record written before those were kept has only
	// these two, Stripe's largest running total and flag.
	Refunded   int64 `json:"refunded,omitempty"`
	FullRefund bool  `json:"full_refund,omitempty"`
	// StripeRefunded, StripeFullRefund: the charge's amount_refunded and
	// refunded in the newest charge.refunded, of Stripe created time
	// RefundedAsOf (zero: none seen, or a record written before these were
	// kept: "unknown, older than everything").
	StripeRefunded   int64     `json:"stripe_refunded,omitempty"`
	StripeFullRefund bool      `json:"stripe_full_refund,omitempty"`
	RefundedAsOf     time.Time `json:"refunded_as_of,omitzero"`
	// Reverted: its refunds that failed or were canceled, one per refund.
	Reverted []RevertedRefund `json:"reverted_refunds,omitempty"`
	// Dispute: "open", "won" or "lost" ("" none). A closed dispute is
	// final for it, whatever order its events came in. DisputedAsOf: the
	// Stripe created time of its earliest dispute event.
	Dispute      string    `json:"dispute,omitempty"`
	DisputedAsOf time.Time `json:"disputed_as_of,omitzero"`
	// VoidAsOf: while it is taken back, since when (zero while it is not):
	// the charge.refunded that made the refunds whole, or its first
	// dispute event, whichever is earlier.
	VoidAsOf time.Time `json:"void_as_of,omitzero"`
}

// RevertedRefund is a refund that failed or was canceled: its amount was
// given back to the charge.
type RevertedRefund struct {
	ID      string    `json:"id"`
	Amount  int64     `json:"amount"`
	Created time.Time `json:"created,omitzero"` // when the refund was made (zero: not said)
	At      time.Time `json:"at"`               // the Stripe created time of the event that said it failed or was canceled
}

// void reports whether the payment was taken back: refunded in full (or
// refunds adding up to it), or disputed and not won.
func (p *Payment) void() bool {
	return p.refundedInFull() || p.Dispute == "open" || p.Dispute == "lost"
}

// refundedInFull reports whether the refunds, net of those reverted, take
// all of the payment back.
func (p *Payment) refundedInFull() bool {
	return p.FullRefund || (p.Amount > 0 && p.Refunded >= p.Amount)
}

// RefundedAmount is what is refunded of the payment now, net of refunds
// that failed or were canceled: all of it once Stripe says it is refunded
// in full (which a partially captured charge is with less than its amount).
// The finance report shows it.
func (p *Payment) RefundedAmount() int64 {
	if p.FullRefund && p.Refunded < p.Amount {
		return p.Amount
	}
	return p.Refunded
}

// payment returns the payment with id (or, with id "", none), adding it.
func (d *Desired) payment(id string) *Payment {
	for i := range d.Payments {
		if d.Payments[i].ID == id {
			return &d.Payments[i]
		}
	}
	d.Payments = append(d.Payments, Payment{ID: id})
	return &d.Payments[len(d.Payments)-1]
}

// paymentOf returns the payment that charge fact f (a refund, a dispute)
// is about: by its charge, then its payment intent, then its invoice; nil
// if the record knows none of them.
func (d *Desired) paymentOf(f billing.Fact) *Payment {
	for _, match := range []func(p *Payment) bool{
		func(p *Payment) bool { return f.Charge != "" && p.Charge == f.Charge },
		func(p *Payment) bool { return f.PaymentIntent != "" && p.PaymentIntent == f.PaymentIntent },
		func(p *Payment) bool { return f.Invoice != "" && p.ID == f.Invoice },
	} {
		for i := range d.Payments {
			if match(&d.Payments[i]) {
				return &d.Payments[i]
			}
		}
	}
	return nil
}

// latestPayment is the payment of the latest service period, or nil.
func (d *Desired) latestPayment() *Payment {
	var latest *Payment
	for i := range d.Payments {
		p := &d.Payments[i]
		if !p.PeriodEnd.IsZero() && (latest == nil || p.PeriodEnd.After(latest.PeriodEnd)) {
			latest = p
		}
	}
	return latest
}

// link notes the charge and payment intent of f on p.
func (p *Payment) link(f billing.Fact) {
	if f.Charge != "" {
		p.Charge = f.Charge
	}
	if f.PaymentIntent != "" {
		p.PaymentIntent = f.PaymentIntent
	}
}

// takesBack reports whether f is a charge fact: one about a payment the
// record must already know (see paymentPending).
func takesBack(f billing.Fact) bool {
	switch f.Kind {
	case billing.Refunded, billing.RefundReverted, billing.Disputed, billing.DisputeClosed:
		return true
	}
	return false
}

// legacy reports whether d was bought before payments were kept: then a
// refund or dispute ends it, as that release did.
func legacy(d *Desired) bool { return d.Purchased && len(d.Payments) == 0 }

// paymentPending reports whether charge fact f is about a payment r does
// not know yet: the record was found through the payment's index, written
// before the purchase that carries the payment is folded, so that purchase
// is being applied now and f must wait for it (a retry), not be taken for
// a refund of a record from before payments were kept.
func paymentPending(r *Record, f billing.Fact) bool {
	return takesBack(f) && r.Desired.paymentOf(f) == nil && !legacy(&r.Desired)
}

// takeBack folds a charge fact (a refund, a refund reverted, a dispute, a
// dispute's end) into the payment it is about.
//
// A one-off order whose payment was taken back ends (derive: refunded,
// deleted after the retention), but that end is not sticky as a
// subscription's cancellation is: every charge fact of the order lets
// derive decide again from its payment, so that a refund that fails or is
// canceled brings the order back (enabled again, or, once its account was
// deleted after the retention, a new account for what is left of the
// period paid), and the deletion time counts from the refund that is in
// force, whatever order the facts came in. A one-off order has no
// cancellation of its own, and a lost dispute keeps its payment taken back,
// so nothing final but the refund is undone. A subscription's refund never
// ends its record (it suspends), and a canceled subscription stays
// canceled whatever its refunds do.
func takeBack(d *Desired, f billing.Fact, pol policy) {
	p := d.paymentOf(f)
	if p == nil {
		if len(d.Payments) == 0 && (f.Kind == billing.Refunded || f.Kind == billing.Disputed) {
			// A record written before payments were kept: as that
			// release did, the refund or dispute ends it.
			final(d, StatusRefunded, f, pol)
		}
		return
	}
	p.migrate()
	c := f.Created
	switch f.Kind {
	case billing.Refunded:
		switch {
		case c.After(p.RefundedAsOf):
			p.StripeRefunded, p.StripeFullRefund, p.RefundedAsOf = f.Amount, f.FullRefund, c
		case c.Equal(p.RefundedAsOf):
			// Two totals of one second: refunds only add up until one
			// fails, and a failure is kept on its own (Reverted).
			p.StripeRefunded, p.StripeFullRefund = max(p.StripeRefunded, f.Amount), p.StripeFullRefund || f.FullRefund
		}
	case billing.RefundReverted:
		p.revert(f)
	case billing.Disputed:
		if p.Dispute == "" {
			p.Dispute = "open"
		}
	case billing.DisputeClosed:
		p.Dispute = "lost"
		if f.DisputeWon {
			p.Dispute = "won"
		}
	}
	if f.Kind == billing.Disputed || f.Kind == billing.DisputeClosed {
		if p.DisputedAsOf.IsZero() || c.Before(p.DisputedAsOf) {
			p.DisputedAsOf = c
		}
	}
	p.settle()
	if d.OneOff && d.Status == StatusRefunded {
		d.Status, d.DeleteAt = StatusNone, time.Time{} // derive decides again
	}
}

// migrate reads a payment written before refunds were kept one by one: its
// Refunded and FullRefund were Stripe's largest running total and flag, of
// a time unknown, and its VoidAsOf the time of its dispute if it had one.
func (p *Payment) migrate() {
	if p.RefundedAsOf.IsZero() && p.StripeRefunded == 0 && !p.StripeFullRefund {
		p.StripeRefunded, p.StripeFullRefund = p.Refunded, p.FullRefund
	}
	if p.Dispute != "" && p.DisputedAsOf.IsZero() {
		p.DisputedAsOf = p.VoidAsOf
	}
}

// revert notes refund reverted fact f, once per refund: the earliest event
// that says it failed or was canceled counts.
func (p *Payment) revert(f billing.Fact) {
	i := slices.IndexFunc(p.Reverted, func(r RevertedRefund) bool { return r.ID == f.Refund })
	if i < 0 {
		p.Reverted = append(p.Reverted, RevertedRefund{ID: f.Refund})
		i = len(p.Reverted) - 1
	} else if !f.Created.Before(p.Reverted[i].At) {
		return
	}
	p.Reverted[i].Amount, p.Reverted[i].Created, p.Reverted[i].At = f.Amount, f.RefundCreated, f.Created
	slices.SortFunc(p.Reverted, func(a, b RevertedRefund) int { return strings.Compare(a.ID, b.ID) })
}

// settle derives what is refunded now, and since when the payment is taken
// back, from what Stripe said: the newest running total, less each reverted
// refund that total still counts (see counts).
func (p *Payment) settle() {
	var back int64
	for _, r := range p.Reverted {
		if p.counts(r) {
			back += r.Amount
		}
	}
	p.Refunded = max(p.StripeRefunded-back, 0)
	p.FullRefund = p.StripeFullRefund && back == 0
	var since time.Time
	note := func(t time.Time) {
		if !t.IsZero() && (since.IsZero() || t.Before(since)) {
			since = t
		}
	}
	if p.refundedInFull() {
		// Once all is refunded nothing more can be, until a refund
		// fails: the newest total is the one that made it whole.
		if p.RefundedAsOf.IsZero() {
			note(p.VoidAsOf) // a record written before: as it was kept
		} else {
			note(p.RefundedAsOf)
		}
	}
	if p.Dispute == "open" || p.Dispute == "lost" {
		note(p.DisputedAsOf)
	}
	p.VoidAsOf = since
}

// counts reports whether the newest running total (of RefundedAsOf) still
// counts reverted refund r: it does unless the refund was made after that
// total (which never counted it) or failed before it (Stripe had taken it
// off already). A total of unknown time (a record written before) counts
// every refund. Within one second Stripe's order is unknown: a total of
// the second the refund failed is taken to have left it out, unless it is
// also the second the refund was made (the total of its making, for a
// refund that failed at once).
func (p *Payment) counts(r RevertedRefund) bool {
	asOf := p.RefundedAsOf
	switch {
	case asOf.IsZero():
		return true
	case r.Created.After(asOf):
		return false // made after the total
	case r.At.After(asOf):
		return true // failed after the total
	}
	return r.At.Equal(asOf) && r.Created.Equal(asOf)
}
