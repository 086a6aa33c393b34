package provisioning

import (
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
	// Refunded: refunded so far (Stripe's running total); FullRefund:
	// Stripe says all of it.
	Refunded   int64 `json:"refunded,omitempty"`
	FullRefund bool  `json:"full_refund,omitempty"`
	// Dispute: "open", "won" or "lost" ("" none). A closed dispute is
	// final for it, whatever order its events came in.
	Dispute string `json:"dispute,omitempty"`
	// VoidAsOf: the earliest time a full refund or a dispute took it back.
	VoidAsOf time.Time `json:"void_as_of,omitzero"`
}

// void reports whether the payment was taken back: refunded in full (or
// refunds adding up to it), or disputed and not won.
func (p *Payment) void() bool {
	return p.FullRefund || (p.Amount > 0 && p.Refunded >= p.Amount) || p.Dispute == "open" || p.Dispute == "lost"
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

// takenBack notes that p was taken back at c if it now is.
func (p *Payment) takenBack(c time.Time) {
	if p.void() && (p.VoidAsOf.IsZero() || c.Before(p.VoidAsOf)) {
		p.VoidAsOf = c
	}
}

// takeBack folds a charge fact (a refund, a dispute, a dispute's end) into
// the payment it is about.
func takeBack(d *Desired, f billing.Fact, pol policy) {
	p := d.paymentOf(f)
	if p == nil {
		if len(d.Payments) == 0 && f.Kind != billing.DisputeClosed {
			// A record written before payments were kept: as that
			// release did, the refund or dispute ends it.
			final(d, StatusRefunded, f, pol)
		}
		return
	}
	switch f.Kind {
	case billing.Refunded:
		p.Refunded, p.FullRefund = max(p.Refunded, f.Amount), p.FullRefund || f.FullRefund
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
	p.takenBack(f.Created)
}
