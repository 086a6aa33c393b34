package billing

import (
	"encoding/json"
	"fmt"
	"time"
)

// refund is what vpnbill reads of a refund: the same fields in every
// version (dahlia adds the customer).
type refund struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	Amount        int64  `json:"amount"`
	Currency      string `json:"currency"`
	Charge        ref    `json:"charge"`
	PaymentIntent ref    `json:"payment_intent"`
	Customer      ref    `json:"customer"` // dahlia on
	Created       int64  `json:"created"`
}

// refund reads a charge.refund.updated event. A refund that failed or was
// canceled gives its amount back to the charge: Stripe lowers the charge's
// amount_refunded (and clears refunded) but sends no new charge.refunded,
// and from API version 2022-11-15 on a charge lists no refunds, so this
// event is the only news of it. Every other status changes nothing: a
// refund is counted by the charge.refunded sent when it was made, whether
// it then succeeds or still waits.
func (r reader) refund(f *Fact, obj json.RawMessage) error {
	var o refund
	if err := r.decode(obj, &o, "refund"); err != nil {
		return err
	}
	f.Refund, f.Amount, f.Currency = o.ID, o.Amount, o.Currency
	f.Charge, f.PaymentIntent, f.Customer = string(o.Charge), string(o.PaymentIntent), string(o.Customer)
	if o.Created > 0 {
		f.RefundCreated = time.Unix(o.Created, 0).UTC()
	}
	switch {
	case o.ID == "":
		return r.malformed("refund", "", "no id")
	case o.Status == "":
		return r.malformed("refund", o.ID, "no status")
	}
	switch o.Status {
	case "failed", "canceled":
	case "succeeded":
		return fmt.Errorf("%w: refund %s succeeded: the charge.refunded of its creation already counted it", ErrIgnored, o.ID)
	case "pending", "requires_action":
		return fmt.Errorf("%w: refund %s is %s: the charge.refunded of its creation counted it; a later update says whether it fails", ErrIgnored, o.ID, o.Status)
	default:
		// A status vpnbill does not know may give money back or not: an
		// operator looks rather than vpnbill guessing.
		return r.malformed("refund", o.ID, "status %q is not one vpnbill knows", o.Status)
	}
	switch {
	case f.Charge == "" && f.PaymentIntent == "":
		return r.malformed("refund", o.ID, "status %s but no charge or payment_intent", o.Status)
	case o.Amount <= 0:
		return r.malformed("refund", o.ID, "status %s but amount %d", o.Status, o.Amount)
	}
	f.Kind = RefundReverted
	return nil
}
