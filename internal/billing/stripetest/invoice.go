package stripetest

import "time"

// Invoice describes an invoice with one line: a line of type "subscription"
// for the subscription's price when Subscription is set, else one of type
// "invoiceitem".
type Invoice struct {
	ID           string // default a new in_ id
	Subscription string // empty: an invoice of no subscription
	Customer     string // default a new cus_ id
	Email        string // customer_email
	Name         string // customer_name
	// BillingReason: subscription_create, subscription_cycle,
	// subscription_update or manual. Default subscription_create with a
	// Subscription, manual without.
	BillingReason string
	Price         string // the line's price id; default a new price_ id
	LookupKey     string // the price's lookup_key; empty: none
	// PeriodStart, PeriodEnd: the service period of the subscription line.
	// Default Created and one month after PeriodStart. The invoice's own
	// period_start/period_end are, as at Stripe, the period before it (for a
	// subscription_cycle invoice) or the instant the line's period starts.
	PeriodStart time.Time
	PeriodEnd   time.Time
	AmountPaid  int64
	AmountDue   int64
	Currency    string // default "eur"
	Paid        bool   // status paid (else open)
	Charge      string // empty: none
	// PaymentIntent, HostedInvoiceURL: empty: none.
	PaymentIntent    string
	HostedInvoiceURL string
	// Created is the invoice's creation time; default PeriodStart, else now.
	Created time.Time
}

// InvoiceObject returns the invoice object i describes.
func InvoiceObject(i Invoice) map[string]any {
	o := sample("invoice")
	if i.ID == "" {
		i.ID = ID("in")
	}
	if i.Customer == "" {
		i.Customer = ID("cus")
	}
	if i.Currency == "" {
		i.Currency = "eur"
	}
	if i.Price == "" {
		i.Price = ID("price")
	}
	if i.BillingReason == "" {
		i.BillingReason = "manual"
		if i.Subscription != "" {
			i.BillingReason = "subscription_create"
		}
	}
	if i.Created.IsZero() {
		i.Created = i.PeriodStart
	}
	i.Created = orNow(i.Created)
	if i.PeriodStart.IsZero() {
		i.PeriodStart = i.Created
	}
	if i.PeriodEnd.IsZero() {
		i.PeriodEnd = i.PeriodStart.AddDate(0, 1, 0)
	}
	created := i.Created.Unix()

	o["id"] = i.ID
	o["customer"] = i.Customer
	o["customer_email"] = nilIfEmpty(i.Email)
	o["customer_name"] = nilIfEmpty(i.Name)
	o["billing_reason"] = i.BillingReason
	o["subscription"] = nilIfEmpty(i.Subscription)
	o["currency"] = i.Currency
	o["amount_due"], o["amount_paid"] = i.AmountDue, i.AmountPaid
	o["amount_remaining"] = max(i.AmountDue-i.AmountPaid, 0)
	o["subtotal"], o["subtotal_excluding_tax"] = i.AmountDue, i.AmountDue
	o["total"], o["total_excluding_tax"] = i.AmountDue, i.AmountDue
	o["charge"] = nilIfEmpty(i.Charge)
	o["payment_intent"] = nilIfEmpty(i.PaymentIntent)
	o["hosted_invoice_url"] = nilIfEmpty(i.HostedInvoiceURL)
	o["created"], o["effective_at"], o["webhooks_delivered_at"] = created, created, created
	o["due_date"] = nil // charge_automatically: no due date
	o["attempted"], o["attempt_count"] = true, 1
	o["auto_advance"] = !i.Paid
	o["paid"] = i.Paid
	transitions := child(o, "status_transitions")
	transitions["finalized_at"] = created
	if i.Paid {
		o["status"] = "paid"
		o["next_payment_attempt"] = nil
		transitions["paid_at"] = created
	} else {
		o["status"] = "open"
		o["next_payment_attempt"] = i.Created.Add(72 * time.Hour).Unix()
		transitions["paid_at"] = nil
	}

	// The invoice's own period is the one in which its items accrued: for a
	// renewal, the previous service period; for a first invoice, an instant.
	o["period_start"], o["period_end"] = i.PeriodStart.Unix(), i.PeriodStart.Unix()
	if i.BillingReason == "subscription_cycle" {
		o["period_start"] = i.PeriodStart.Add(-i.PeriodEnd.Sub(i.PeriodStart)).Unix()
	}

	lines := child(o, "lines")
	lines["url"] = "/v1/invoices/" + i.ID + "/lines"
	line := firstOf(o, "lines")
	line["amount"], line["amount_excluding_tax"] = i.AmountDue, i.AmountDue
	line["unit_amount_excluding_tax"] = decimal(i.AmountDue)
	line["currency"] = i.Currency
	child(line, "period")["start"] = i.PeriodStart.Unix()
	child(line, "period")["end"] = i.PeriodEnd.Unix()
	price := priceObject(i.Price, i.LookupKey, i.Currency, i.AmountDue, i.Subscription != "", i.Created)
	line["price"] = price
	if i.Subscription != "" {
		line["id"] = ID("il")
		line["type"] = "subscription"
		line["subscription"] = i.Subscription
		line["subscription_item"] = ID("si")
		line["invoice_item"] = nil
		line["description"] = "1 × VPN subscription"
	} else {
		line["id"] = ID("il")
		line["type"] = "invoiceitem"
		line["subscription"] = nil
		line["invoice_item"] = ID("ii")
		line["description"] = "VPN"
	}
	return o
}

// InvoicePaid returns an invoice.paid event; the invoice is paid (AmountPaid
// defaults to AmountDue) and, unless i.Created says otherwise, created when
// the event is.
func InvoicePaid(eventID string, created time.Time, i Invoice) []byte {
	if i.Created.IsZero() {
		i.Created = created
	}
	i.Paid = true
	if i.AmountPaid == 0 {
		i.AmountPaid = i.AmountDue
	}
	return Event(eventID, "invoice.paid", created, InvoiceObject(i))
}

// InvoicePaymentFailed returns an invoice.payment_failed event; the invoice
// is open and unpaid (AmountPaid 0) and, unless i.Created says otherwise,
// created when the event is.
func InvoicePaymentFailed(eventID string, created time.Time, i Invoice) []byte {
	if i.Created.IsZero() {
		i.Created = created
	}
	i.Paid, i.AmountPaid = false, 0
	return Event(eventID, "invoice.payment_failed", created, InvoiceObject(i))
}

// priceObject returns Stripe's sample price with id, lookup key (empty:
// null), currency and unit amount set; recurring monthly or one_time.
func priceObject(id, lookupKey, currency string, amount int64, recurring bool, created time.Time) map[string]any {
	p := sample("price")
	p["id"] = id
	p["lookup_key"] = nilIfEmpty(lookupKey)
	p["currency"] = currency
	p["unit_amount"], p["unit_amount_decimal"] = amount, decimal(amount)
	p["created"] = created.Unix()
	if recurring {
		p["type"] = "recurring"
		r := child(p, "recurring")
		r["interval"], r["interval_count"] = "month", 1
	} else {
		p["type"], p["recurring"] = "one_time", nil
	}
	return p
}
