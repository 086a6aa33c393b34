package billing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stripe/stripe-go/v76"
)

// Kind is what a Stripe event says about a customer's service.
type Kind string

// The kinds of fact.
const (
	// Purchase: a paid order or the first paid invoice of a subscription;
	// the service should exist. Checkout and the first invoice.paid of one
	// subscription are the same purchase.
	Purchase Kind = "purchase"
	// PurchaseFailed: an asynchronous checkout payment failed; nothing is owed.
	PurchaseFailed Kind = "purchase_failed"
	// Renewal: a later invoice was paid; the service runs to PeriodEnd.
	Renewal Kind = "renewal"
	// PaymentFailed: an invoice payment failed; Stripe is retrying.
	PaymentFailed Kind = "payment_failed"
	// SubscriptionState: the subscription's status, price or cancellation changed.
	SubscriptionState Kind = "subscription_state"
	// Canceled: the subscription ended.
	Canceled Kind = "canceled"
	// Refunded: the payment was refunded in full.
	Refunded Kind = "refunded"
	// Disputed: the payment is disputed.
	Disputed Kind = "disputed"
)

// Fact is one Stripe event translated into what it means for a service.
type Fact struct {
	Kind      Kind
	EventID   string
	EventType string
	Created   time.Time // the Stripe event's creation time: orders facts
	Livemode  bool

	// Key is the account record: the subscription id, or the checkout
	// session id of a one-off order. Empty for charge facts, which name
	// only PaymentIntent / Invoice / Charge: the worker resolves those.
	Key             string
	OneOff          bool
	Customer        string
	Email           string
	CustomerName    string
	Subscription    string
	CheckoutSession string
	Invoice         string
	Charge          string
	PaymentIntent   string
	InvoiceURL      string

	Plan     Plan // zero when the event names no plan (charges, failures)
	Amount   int64
	Currency string
	// PeriodStart, PeriodEnd: the service period this fact paid for.
	// PeriodEnd is zero when the event does not say (a subscription checkout:
	// its first invoice does).
	PeriodStart time.Time
	PeriodEnd   time.Time

	// SubscriptionState facts.
	SubStatus         string // active, past_due, unpaid, paused, canceled, incomplete, trialing, …
	CancelAtPeriodEnd bool
	CurrentPeriodEnd  time.Time
}

// ErrIgnored means the event changes nothing vpnbill provides (an unpaid
// checkout, a partial refund, a checkout for something that is not a plan).
// The worker acks it and records why.
var ErrIgnored = errors.New("ignored")

// ErrUnknownPlan means the event names a plan or price the catalog lacks:
// a configuration problem for an operator, not something a retry fixes.
var ErrUnknownPlan = errors.New("unknown plan")

// LineItems lists the price ids and lookup keys a checkout session bought,
// through the Stripe API, for sessions whose metadata names no plan.
type LineItems interface {
	SessionPrices(ctx context.Context, sessionID string) ([]string, error)
}

// Translator turns Stripe events into facts.
type Translator struct {
	Catalog *Catalog
	// LineItems is used when a checkout session's metadata has no "plan";
	// nil means such sessions are ErrUnknownPlan.
	LineItems LineItems
}

// Translate reads payload, a verified Stripe event. Errors: ErrMalformed (a
// payload that cannot be read), ErrUnknownPlan, ErrIgnored (with the reason),
// or a LineItems error (retryable). With an error, the returned fact holds
// the ids that could be read.
func (t *Translator) Translate(ctx context.Context, payload []byte) (Fact, error) {
	env, err := ParseEnvelope(payload)
	if err != nil {
		return Fact{}, err
	}
	var ev struct {
		Data struct {
			Object json.RawMessage `json:"object"`
		} `json:"data"`
	}
	// data.object must be an object: stripe-go reads a bare string as an
	// expandable id, so "sub_1" would otherwise read as that subscription.
	if err := json.Unmarshal(payload, &ev); err != nil || !bytes.HasPrefix(bytes.TrimSpace(ev.Data.Object), []byte("{")) {
		return Fact{}, fmt.Errorf("%w: event %s has no data.object", ErrMalformed, env.ID)
	}
	f := Fact{EventID: env.ID, EventType: env.Type, Created: env.CreatedTime(), Livemode: env.Livemode}
	obj := ev.Data.Object
	switch env.Type {
	case EventCheckoutCompleted, EventCheckoutAsyncSucceeded, EventCheckoutAsyncFailed:
		err = t.checkout(ctx, &f, obj)
	case EventInvoicePaid, EventInvoicePaymentFailed:
		err = t.invoice(&f, obj)
	case EventSubscriptionUpdated, EventSubscriptionDeleted:
		err = t.subscription(&f, obj)
	case EventChargeRefunded:
		err = charge(&f, obj)
	case EventChargeDisputeCreated:
		err = dispute(&f, obj)
	default:
		err = fmt.Errorf("%w: event type %s is not handled", ErrIgnored, env.Type)
	}
	if err != nil {
		// The partial fact names what was read, for the skip's audit record.
		return f, fmt.Errorf("event %s (%s): %w", env.ID, env.Type, err)
	}
	return f, nil
}

func decode(obj json.RawMessage, v any, what string) error {
	if err := json.Unmarshal(obj, v); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
	}
	return nil
}

func (t *Translator) checkout(ctx context.Context, f *Fact, obj json.RawMessage) error {
	var s stripe.CheckoutSession
	if err := decode(obj, &s, "checkout session"); err != nil {
		return err
	}
	if s.ID == "" {
		return fmt.Errorf("%w: checkout session without id", ErrMalformed)
	}
	f.CheckoutSession = s.ID
	f.Amount, f.Currency = s.AmountTotal, string(s.Currency)
	if s.Customer != nil {
		f.Customer = s.Customer.ID
	}
	if s.CustomerDetails != nil {
		f.Email, f.CustomerName = s.CustomerDetails.Email, s.CustomerDetails.Name
	}
	if f.Email == "" {
		f.Email = s.CustomerEmail
	}
	if s.PaymentIntent != nil {
		f.PaymentIntent = s.PaymentIntent.ID
	}
	if s.Invoice != nil {
		f.Invoice = s.Invoice.ID
	}
	switch s.Mode {
	case stripe.CheckoutSessionModeSubscription:
		if s.Subscription == nil || s.Subscription.ID == "" {
			return fmt.Errorf("%w: subscription checkout %s without subscription", ErrMalformed, s.ID)
		}
		f.Subscription, f.Key = s.Subscription.ID, s.Subscription.ID
	case stripe.CheckoutSessionModePayment:
		f.Key, f.OneOff = s.ID, true
	default:
		return fmt.Errorf("%w: checkout mode %q buys no service", ErrIgnored, s.Mode)
	}
	if f.EventType == EventCheckoutAsyncFailed {
		f.Kind = PurchaseFailed
		return nil
	}
	if s.PaymentStatus != stripe.CheckoutSessionPaymentStatusPaid {
		// Completed but unpaid: an async payment (bank debit) is pending; its
		// async_payment_succeeded event will provision.
		return fmt.Errorf("%w: checkout %s payment_status %q", ErrIgnored, s.ID, s.PaymentStatus)
	}
	f.Kind = Purchase
	plan, err := t.checkoutPlan(ctx, &s)
	if err != nil {
		return err
	}
	f.Plan = plan
	if f.OneOff {
		f.PeriodStart = f.Created
		f.PeriodEnd = f.Created.AddDate(0, 0, plan.PeriodDays)
	}
	return nil
}

func (t *Translator) checkoutPlan(ctx context.Context, s *stripe.CheckoutSession) (Plan, error) {
	if id := s.Metadata["plan"]; id != "" {
		p, ok := t.Catalog.ByID(id)
		if !ok {
			return Plan{}, fmt.Errorf("%w: checkout metadata plan %q", ErrUnknownPlan, id)
		}
		return p, nil
	}
	if t.LineItems == nil {
		return Plan{}, fmt.Errorf("%w: checkout %s has no metadata plan and no Stripe API key is configured to read its line items", ErrUnknownPlan, s.ID)
	}
	prices, err := t.LineItems.SessionPrices(ctx, s.ID)
	if err != nil {
		return Plan{}, fmt.Errorf("list line items of %s: %w", s.ID, err)
	}
	return t.planOf(prices)
}

// planOf returns the one plan the prices buy.
func (t *Translator) planOf(prices []string) (Plan, error) {
	var found *Plan
	for _, price := range prices {
		if p, ok := t.Catalog.ByPrice(price); ok {
			if found != nil && found.ID != p.ID {
				return Plan{}, fmt.Errorf("%w: prices buy two plans, %s and %s", ErrUnknownPlan, found.ID, p.ID)
			}
			found = &p
		}
	}
	if found == nil {
		return Plan{}, fmt.Errorf("%w: no plan for prices %v", ErrUnknownPlan, prices)
	}
	return *found, nil
}

func priceKeys(p *stripe.Price) []string {
	if p == nil {
		return nil
	}
	keys := []string{p.ID}
	if p.LookupKey != "" {
		keys = append(keys, p.LookupKey)
	}
	return keys
}

func (t *Translator) invoice(f *Fact, obj json.RawMessage) error {
	var inv stripe.Invoice
	if err := decode(obj, &inv, "invoice"); err != nil {
		return err
	}
	if inv.ID == "" {
		return fmt.Errorf("%w: invoice without id", ErrMalformed)
	}
	f.Invoice = inv.ID
	if inv.Subscription == nil || inv.Subscription.ID == "" {
		return fmt.Errorf("%w: invoice %s belongs to no subscription", ErrIgnored, inv.ID)
	}
	f.Subscription, f.Key = inv.Subscription.ID, inv.Subscription.ID
	f.Email, f.CustomerName = inv.CustomerEmail, inv.CustomerName
	f.Currency, f.InvoiceURL = string(inv.Currency), inv.HostedInvoiceURL
	if inv.Customer != nil {
		f.Customer = inv.Customer.ID
	}
	if inv.Charge != nil {
		f.Charge = inv.Charge.ID
	}
	if inv.PaymentIntent != nil {
		f.PaymentIntent = inv.PaymentIntent.ID
	}
	var prices []string
	if inv.Lines != nil {
		for _, l := range inv.Lines.Data {
			if l == nil {
				continue
			}
			prices = append(prices, priceKeys(l.Price)...)
			// The subscription line's period is the service period paid
			// for; the invoice's own period_* fields are the previous one.
			if l.Type == stripe.InvoiceLineItemTypeSubscription && l.Period != nil && l.Period.End > 0 {
				if end := time.Unix(l.Period.End, 0).UTC(); end.After(f.PeriodEnd) {
					f.PeriodStart, f.PeriodEnd = time.Unix(l.Period.Start, 0).UTC(), end
				}
			}
		}
	}
	if f.EventType == EventInvoicePaymentFailed {
		f.Kind, f.Amount = PaymentFailed, inv.AmountDue
		return nil
	}
	f.Amount = inv.AmountPaid
	plan, err := t.planOf(prices)
	if err != nil {
		return err
	}
	f.Plan = plan
	if f.PeriodEnd.IsZero() {
		return fmt.Errorf("%w: paid invoice %s has no subscription line with a period", ErrMalformed, inv.ID)
	}
	if inv.BillingReason == stripe.InvoiceBillingReasonSubscriptionCreate {
		f.Kind = Purchase
	} else {
		f.Kind = Renewal
	}
	return nil
}

func (t *Translator) subscription(f *Fact, obj json.RawMessage) error {
	var s stripe.Subscription
	if err := decode(obj, &s, "subscription"); err != nil {
		return err
	}
	if s.ID == "" {
		return fmt.Errorf("%w: subscription without id", ErrMalformed)
	}
	f.Subscription, f.Key = s.ID, s.ID
	if s.Customer != nil {
		f.Customer = s.Customer.ID
	}
	f.SubStatus = string(s.Status)
	f.CancelAtPeriodEnd = s.CancelAtPeriodEnd
	if s.CurrentPeriodEnd > 0 {
		f.CurrentPeriodEnd = time.Unix(s.CurrentPeriodEnd, 0).UTC()
	}
	if f.EventType == EventSubscriptionDeleted {
		f.Kind = Canceled
		return nil
	}
	f.Kind = SubscriptionState
	var prices []string
	if s.Items != nil {
		for _, it := range s.Items.Data {
			if it != nil {
				prices = append(prices, priceKeys(it.Price)...)
			}
		}
	}
	plan, err := t.planOf(prices)
	if err != nil {
		return err
	}
	f.Plan = plan
	return nil
}

func charge(f *Fact, obj json.RawMessage) error {
	var c stripe.Charge
	if err := decode(obj, &c, "charge"); err != nil {
		return err
	}
	if c.ID == "" {
		return fmt.Errorf("%w: charge without id", ErrMalformed)
	}
	f.Charge, f.Amount, f.Currency = c.ID, c.AmountRefunded, string(c.Currency)
	if c.Customer != nil {
		f.Customer = c.Customer.ID
	}
	if c.Invoice != nil {
		f.Invoice = c.Invoice.ID
	}
	if c.PaymentIntent != nil {
		f.PaymentIntent = c.PaymentIntent.ID
	}
	// Stripe sets refunded when everything captured is refunded, which is
	// less than amount when the charge was partially captured.
	if !c.Refunded {
		return fmt.Errorf("%w: charge %s partially refunded (%d of %d)", ErrIgnored, c.ID, c.AmountRefunded, c.Amount)
	}
	f.Kind = Refunded
	return nil
}

func dispute(f *Fact, obj json.RawMessage) error {
	var d stripe.Dispute
	if err := decode(obj, &d, "dispute"); err != nil {
		return err
	}
	if d.Charge == nil || d.Charge.ID == "" {
		return fmt.Errorf("%w: dispute without charge", ErrMalformed)
	}
	f.Kind, f.Charge, f.Amount, f.Currency = Disputed, d.Charge.ID, d.Amount, string(d.Currency)
	if d.PaymentIntent != nil {
		f.PaymentIntent = d.PaymentIntent.ID
	}
	return nil
}
