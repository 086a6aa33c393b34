package stripetest

import "time"

// Charge describes a captured card charge and what was refunded of it.
type Charge struct {
	ID       string // default a new ch_ id
	Customer string // empty: none
	// Invoice: empty: none. 2023-10-16 and acacia only: from basil on a
	// charge names no invoice (an invoice_payment links them).
	Invoice       string
	PaymentIntent string // empty: none
	Amount        int64
	// AmountRefunded: refunded is AmountRefunded >= Amount; a positive
	// amount adds one refund of it to the charge's refunds list.
	AmountRefunded int64
	Currency       string    // default "eur"
	Created        time.Time // default now
	Version        string    // API version; default DefaultVersion
}

// ChargeObject returns the charge object c describes.
func ChargeObject(c Charge) map[string]any {
	o := sample(c.Version, "charge")
	if c.ID == "" {
		c.ID = ID("ch")
	}
	if c.Currency == "" {
		c.Currency = "eur"
	}
	c.Created = orNow(c.Created)

	o["id"] = c.ID
	o["customer"] = nilIfEmpty(c.Customer)
	if !basil(c.Version) {
		o["invoice"] = nilIfEmpty(c.Invoice)
	}
	o["payment_intent"] = nilIfEmpty(c.PaymentIntent)
	o["amount"], o["amount_captured"], o["captured"] = c.Amount, c.Amount, true
	o["amount_refunded"] = c.AmountRefunded
	o["refunded"] = c.AmountRefunded >= c.Amount
	o["currency"] = c.Currency
	o["created"] = c.Created.Unix()
	o["balance_transaction"] = ID("txn")
	o["paid"], o["status"] = true, "succeeded"
	if pmd, ok := o["payment_method_details"].(map[string]any); ok {
		if card, ok := pmd["card"].(map[string]any); ok {
			child(card, "overcapture")["maximum_amount_capturable"] = c.Amount
		}
	}

	refunds := child(o, "refunds")
	refunds["url"] = "/v1/charges/" + c.ID + "/refunds"
	refunds["data"], refunds["has_more"] = []any{}, false
	if c.AmountRefunded > 0 {
		r := sample(c.Version, "refund")
		r["id"] = ID("re")
		r["amount"] = c.AmountRefunded
		r["charge"] = c.ID
		r["payment_intent"] = nilIfEmpty(c.PaymentIntent)
		r["currency"] = c.Currency
		r["created"] = c.Created.Unix()
		r["balance_transaction"] = ID("txn")
		r["reason"] = "requested_by_customer"
		if _, ok := r["customer"]; ok { // dahlia on
			r["customer"] = nilIfEmpty(c.Customer)
		}
		refunds["data"] = []any{r}
	}
	return o
}

// ChargeRefunded returns a charge.refunded event; the charge is created a
// day before the event unless c.Created says otherwise.
func ChargeRefunded(eventID string, created time.Time, c Charge) []byte {
	if c.Created.IsZero() {
		c.Created = created.Add(-24 * time.Hour)
	}
	return VersionedEvent(c.Version, eventID, "charge.refunded", created, ChargeObject(c))
}

// Refund describes one refund of a charge.
type Refund struct {
	ID            string // default a new re_ id
	Charge        string // empty: none (Stripe's refund names its charge, nullable)
	PaymentIntent string // empty: none
	Customer      string // dahlia on (earlier versions have no such field); empty: none
	Amount        int64
	Currency      string    // default "eur"
	Created       time.Time // default now
	// Status: default failed; succeeded, pending, requires_action or
	// canceled. A failed refund says why (failure_reason).
	Status  string
	Version string // API version; default DefaultVersion
}

// RefundObject returns the refund object r describes. Its fields are the
// same in every version; dahlia adds the customer, and Stripe adds
// failure_reason to a failed refund.
func RefundObject(r Refund) map[string]any {
	o := sample(r.Version, "refund")
	if r.ID == "" {
		r.ID = ID("re")
	}
	if r.Currency == "" {
		r.Currency = "eur"
	}
	if r.Status == "" {
		r.Status = "failed"
	}
	o["id"], o["charge"], o["payment_intent"] = r.ID, nilIfEmpty(r.Charge), nilIfEmpty(r.PaymentIntent)
	o["amount"], o["currency"], o["status"] = r.Amount, r.Currency, r.Status
	o["created"] = orNow(r.Created).Unix()
	o["balance_transaction"] = ID("txn")
	o["reason"] = "requested_by_customer"
	if _, ok := o["customer"]; ok { // dahlia on
		o["customer"] = nilIfEmpty(r.Customer)
	}
	if r.Status == "failed" {
		o["failure_reason"] = "expired_or_canceled_card"
		o["failure_balance_transaction"] = ID("txn")
	}
	return o
}

// ChargeRefundUpdated returns a charge.refund.updated event: by default a
// refund made a day before the event that has now failed.
func ChargeRefundUpdated(eventID string, created time.Time, r Refund) []byte {
	if r.Created.IsZero() {
		r.Created = created.Add(-24 * time.Hour)
	}
	return VersionedEvent(r.Version, eventID, "charge.refund.updated", created, RefundObject(r))
}

// Dispute describes a dispute of a charge.
type Dispute struct {
	ID            string // default a new dp_ id
	Charge        string // default a new ch_ id
	PaymentIntent string // empty: none
	Amount        int64
	Currency      string    // default "eur"
	Created       time.Time // default now
	// Status: default needs_response (open); won or lost once closed.
	Status  string
	Version string // API version; default DefaultVersion
}

// DisputeObject returns the dispute object d describes: newly opened, it
// needs a response. Its fields are the same in every version.
func DisputeObject(d Dispute) map[string]any {
	o := sample(d.Version, "dispute")
	if d.ID == "" {
		d.ID = ID("dp")
	}
	if d.Charge == "" {
		d.Charge = ID("ch")
	}
	if d.Currency == "" {
		d.Currency = "eur"
	}
	d.Created = orNow(d.Created)

	o["id"] = d.ID
	o["charge"] = d.Charge
	o["payment_intent"] = nilIfEmpty(d.PaymentIntent)
	o["amount"], o["currency"] = d.Amount, d.Currency
	o["created"] = d.Created.Unix()
	o["status"], o["is_charge_refundable"] = "needs_response", false
	if d.Status != "" {
		o["status"] = d.Status
	}
	child(o, "evidence_details")["due_by"] = d.Created.AddDate(0, 0, 14).Unix()
	return o
}

// DisputeCreated returns a charge.dispute.created event; the dispute is
// created when the event is unless d.Created says otherwise.
func DisputeCreated(eventID string, created time.Time, d Dispute) []byte {
	if d.Created.IsZero() {
		d.Created = created
	}
	return VersionedEvent(d.Version, eventID, "charge.dispute.created", created, DisputeObject(d))
}

// DisputeClosed returns a charge.dispute.closed event: d.Status won or lost.
func DisputeClosed(eventID string, created time.Time, d Dispute) []byte {
	if d.Created.IsZero() {
		d.Created = created
	}
	return VersionedEvent(d.Version, eventID, "charge.dispute.closed", created, DisputeObject(d))
}

// DisputeFundsReinstated returns a charge.dispute.funds_reinstated event.
func DisputeFundsReinstated(eventID string, created time.Time, d Dispute) []byte {
	if d.Created.IsZero() {
		d.Created = created
	}
	if d.Status == "" {
		d.Status = "won"
	}
	return VersionedEvent(d.Version, eventID, "charge.dispute.funds_reinstated", created, DisputeObject(d))
}

// Customer describes a customer.
type Customer struct {
	ID      string // default a new cus_ id
	Email   string
	Name    string
	Created time.Time
	Version string // API version; default DefaultVersion
}

// CustomerObject returns the customer object c describes.
func CustomerObject(c Customer) map[string]any {
	o := sample(c.Version, "customer")
	if c.ID == "" {
		c.ID = ID("cus")
	}
	o["id"], o["email"], o["name"] = c.ID, nilIfEmpty(c.Email), nilIfEmpty(c.Name)
	o["created"] = orNow(c.Created).Unix()
	return o
}

// CustomerUpdated returns a customer.updated event.
func CustomerUpdated(eventID string, created time.Time, c Customer) []byte {
	return VersionedEvent(c.Version, eventID, "customer.updated", created, CustomerObject(c))
}

// CustomerDeleted returns a customer.deleted event.
func CustomerDeleted(eventID string, created time.Time, c Customer) []byte {
	o := CustomerObject(c)
	o["deleted"] = true
	return VersionedEvent(c.Version, eventID, "customer.deleted", created, o)
}
