package stripetest

import (
	"fmt"
	"time"
)

// Invoice describes an invoice with one line: a line of a subscription item
// for the subscription's price when Subscription is set, else one of an
// invoice item.
type Invoice struct {
	ID string // default a new in_ id
	// Subscription: empty: an invoice of no subscription. Up to acacia the
	// invoice's subscription; from basil on its
	// parent.subscription_details.subscription (parent null without one).
	Subscription string
	Customer     string // default a new cus_ id
	Email        string // customer_email
	Name         string // customer_name
	// BillingReason: subscription_create, subscription_cycle,
	// subscription_update or manual. Default subscription_create with a
	// Subscription, manual without.
	BillingReason string
	// Price is the line's price id; default a new price_ id. Up to acacia
	// the line carries the price object; from basil on only its id
	// (pricing.price_details.price), as Stripe sends it in webhooks.
	Price     string
	LookupKey string // the price's lookup_key; empty: none. Up to acacia only.
	// Quantity: the line's quantity (seats); default 1. Proration: the
	// line is a proration (of a mid-period change), not the period's charge.
	Quantity  int64
	Proration bool
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
	// Charge, PaymentIntent: empty: none. Up to acacia only: from basil on
	// an invoice names no payment (see InvoicePaymentPaid).
	Charge           string
	PaymentIntent    string
	HostedInvoiceURL string // empty: none
	// Created is the invoice's creation time; default PeriodStart, else now.
	Created time.Time
	Version string // API version; default DefaultVersion
}

// InvoiceObject returns the invoice object i describes.
func InvoiceObject(i Invoice) map[string]any {
	o := sample(i.Version, "invoice")
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
	o["currency"] = i.Currency
	o["amount_due"], o["amount_paid"] = i.AmountDue, i.AmountPaid
	o["amount_remaining"] = max(i.AmountDue-i.AmountPaid, 0)
	o["subtotal"], o["subtotal_excluding_tax"] = i.AmountDue, i.AmountDue
	o["total"], o["total_excluding_tax"] = i.AmountDue, i.AmountDue
	o["hosted_invoice_url"] = nilIfEmpty(i.HostedInvoiceURL)
	o["created"], o["effective_at"], o["webhooks_delivered_at"] = created, created, created
	o["due_date"] = nil // charge_automatically: no due date
	o["attempted"], o["attempt_count"] = true, 1
	o["auto_advance"] = !i.Paid
	o["from_invoice"], o["last_finalization_error"] = nil, nil
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
	basil := basil(i.Version)
	if basil {
		o["parent"] = invoiceParent(i.Subscription)
		o["amount_overpaid"] = 0
	} else {
		o["subscription"] = nilIfEmpty(i.Subscription)
		o["charge"] = nilIfEmpty(i.Charge)
		o["payment_intent"] = nilIfEmpty(i.PaymentIntent)
		o["paid"] = i.Paid
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
	line["id"] = ID("il")
	line["amount"] = i.AmountDue
	line["currency"] = i.Currency
	child(line, "period")["start"] = i.PeriodStart.Unix()
	child(line, "period")["end"] = i.PeriodEnd.Unix()
	line["subscription"] = nilIfEmpty(i.Subscription)
	line["quantity"] = max(i.Quantity, 1)
	line["description"] = "VPN"
	if i.Subscription != "" {
		line["description"] = fmt.Sprintf("%d × VPN subscription", max(i.Quantity, 1))
	}
	price := priceObject(i.Version, i.Price, i.LookupKey, i.Currency, i.AmountDue, i.Subscription != "", i.Created)
	if basil {
		line["invoice"] = i.ID
		line["parent"] = lineParent(i.Subscription)
		if d, ok := line["parent"].(map[string]any)["subscription_item_details"].(map[string]any); ok {
			d["proration"] = i.Proration
		}
		line["pricing"] = map[string]any{
			"type":                "price_details",
			"price_details":       map[string]any{"price": i.Price, "product": price["product"]},
			"unit_amount_decimal": decimal(i.AmountDue),
		}
		return o
	}
	if _, ok := line["invoice"]; ok { // acacia
		line["invoice"] = i.ID
	}
	line["amount_excluding_tax"] = i.AmountDue
	line["unit_amount_excluding_tax"] = decimal(i.AmountDue)
	line["price"] = price
	line["proration"] = i.Proration
	if i.Subscription != "" {
		line["type"] = "subscription"
		line["subscription_item"] = ID("si")
		line["invoice_item"] = nil
	} else {
		line["type"] = "invoiceitem"
		line["invoice_item"] = ID("ii")
	}
	return o
}

// invoiceParent is a basil invoice's parent: the subscription it bills, or
// none (a one-off or manual invoice).
func invoiceParent(subscription string) any {
	if subscription == "" {
		return nil
	}
	return map[string]any{
		"type":                 "subscription_details",
		"quote_details":        nil,
		"subscription_details": map[string]any{"metadata": map[string]any{}, "subscription": subscription},
	}
}

// lineParent is a basil invoice line's parent: a subscription item of
// subscription, or an invoice item.
func lineParent(subscription string) map[string]any {
	if subscription == "" {
		return map[string]any{
			"type":                      "invoice_item_details",
			"subscription_item_details": nil,
			"invoice_item_details": map[string]any{
				"invoice_item": ID("ii"), "proration": false, "proration_details": map[string]any{"credited_items": nil}, "subscription": nil,
			},
		}
	}
	return map[string]any{
		"type":                 "subscription_item_details",
		"invoice_item_details": nil,
		"subscription_item_details": map[string]any{
			"invoice_item": nil, "proration": false, "proration_details": map[string]any{"credited_items": nil},
			"subscription": subscription, "subscription_item": ID("si"),
		},
	}
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
	return VersionedEvent(i.Version, eventID, "invoice.paid", created, InvoiceObject(i))
}

// InvoicePaymentFailed returns an invoice.payment_failed event; the invoice
// is open and unpaid (AmountPaid 0) and, unless i.Created says otherwise,
// created when the event is.
func InvoicePaymentFailed(eventID string, created time.Time, i Invoice) []byte {
	if i.Created.IsZero() {
		i.Created = created
	}
	i.Paid, i.AmountPaid = false, 0
	return VersionedEvent(i.Version, eventID, "invoice.payment_failed", created, InvoiceObject(i))
}

// InvoicePaymentActionRequired returns an invoice.payment_action_required
// event: the payment needs the customer to confirm it (3-D Secure) on the
// invoice's page (set i.HostedInvoiceURL).
func InvoicePaymentActionRequired(eventID string, created time.Time, i Invoice) []byte {
	if i.Created.IsZero() {
		i.Created = created
	}
	i.Paid, i.AmountPaid = false, 0
	return VersionedEvent(i.Version, eventID, "invoice.payment_action_required", created, InvoiceObject(i))
}

// InvoicePayment describes the payment of an invoice by a payment intent
// (or a charge): an invoice_payment object, which came with basil. Older
// versions' events start from basil's sample: the object is the same.
type InvoicePayment struct {
	ID      string // default a new inpay_ id
	Invoice string // default a new in_ id
	// PaymentIntent, Charge: what paid. With a PaymentIntent the payment's
	// type is payment_intent, else charge. Default a new pi_ id.
	PaymentIntent string
	Charge        string
	Amount        int64
	Currency      string    // default "eur"
	Created       time.Time // default now
	Version       string    // API version; default DefaultVersion
}

// InvoicePaymentObject returns the paid invoice_payment object p describes.
func InvoicePaymentObject(p InvoicePayment) map[string]any {
	o := sample(p.Version, "invoice_payment")
	if p.ID == "" {
		p.ID = ID("inpay")
	}
	if p.Invoice == "" {
		p.Invoice = ID("in")
	}
	if p.PaymentIntent == "" && p.Charge == "" {
		p.PaymentIntent = ID("pi")
	}
	if p.Currency == "" {
		p.Currency = "eur"
	}
	p.Created = orNow(p.Created)

	o["id"] = p.ID
	o["invoice"] = p.Invoice
	o["amount_paid"], o["amount_requested"] = p.Amount, p.Amount
	o["currency"] = p.Currency
	o["created"] = p.Created.Unix()
	o["is_default"], o["livemode"] = true, false
	o["status"] = "paid"
	transitions := child(o, "status_transitions")
	transitions["paid_at"], transitions["canceled_at"] = p.Created.Unix(), nil
	payment := map[string]any{"type": "charge"}
	if p.PaymentIntent != "" {
		payment = map[string]any{"type": "payment_intent", "payment_intent": p.PaymentIntent}
	}
	if p.Charge != "" {
		payment["charge"] = p.Charge
	}
	o["payment"] = payment
	return o
}

// InvoicePaymentPaid returns an invoice_payment.paid event: the invoice is
// paid by the payment; the payment is made when the event is unless
// p.Created says otherwise.
func InvoicePaymentPaid(eventID string, created time.Time, p InvoicePayment) []byte {
	if p.Created.IsZero() {
		p.Created = created
	}
	return VersionedEvent(p.Version, eventID, "invoice_payment.paid", created, InvoicePaymentObject(p))
}

// priceObject returns Stripe's sample price of version with id, lookup key
// (empty: null), currency and unit amount set; recurring monthly or
// one_time.
func priceObject(version, id, lookupKey, currency string, amount int64, recurring bool, created time.Time) map[string]any {
	p := sample(version, "price")
	p["id"] = id
	p["lookup_key"] = nilIfEmpty(lookupKey)
	p["currency"] = currency
	p["unit_amount"], p["unit_amount_decimal"] = amount, decimal(amount)
	p["created"] = created.Unix()
	p["custom_unit_amount"], p["transform_quantity"] = nil, nil
	if recurring {
		p["type"] = "recurring"
		r := child(p, "recurring")
		r["interval"], r["interval_count"] = "month", 1
	} else {
		p["type"], p["recurring"] = "one_time", nil
	}
	return p
}
