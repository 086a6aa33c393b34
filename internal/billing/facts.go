package billing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
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
	// Refunded: the payment was refunded, in full (FullRefund) or in part;
	// Amount is everything refunded of it so far.
	Refunded Kind = "refunded"
	// Disputed: the payment is disputed.
	Disputed Kind = "disputed"
	// DisputeClosed: a dispute of the payment ended; DisputeWon says how.
	DisputeClosed Kind = "dispute_closed"
	// RefundReverted: a refund of the payment failed or was canceled
	// (charge.refund.updated): its Amount is no longer refunded. Refund
	// and RefundCreated name it; Stripe lowers the charge's amount_refunded
	// but sends no new charge.refunded.
	RefundReverted Kind = "refund_reverted"
	// TrialEnding: the subscription's trial ends at TrialEnd (Stripe says
	// so three days before); the customer is reminded.
	TrialEnding Kind = "trial_ending"
	// PaymentActionRequired: an invoice payment needs the customer to act
	// (3-D Secure); they are sent the invoice's link.
	PaymentActionRequired Kind = "payment_action_required"
	// CustomerChanged: the customer's email address or name, as of Created,
	// for every account of Customer. Key is empty: the worker finds them.
	CustomerChanged Kind = "customer_changed"
	// CustomerDeleted: the customer was deleted at Stripe (audited; their
	// subscriptions' own events decide their service).
	CustomerDeleted Kind = "customer_deleted"
	// PaymentLinked: an invoice was paid by a payment intent or charge. It
	// changes no service: it names the payment's ids with the invoice's, so
	// that a later refund or dispute, whose charge names no invoice from API
	// version basil on, finds the invoice's account. Key is empty, like a
	// charge fact's.
	PaymentLinked Kind = "payment_linked"
)

// Fact is one Stripe event translated into what it means for a service.
type Fact struct {
	Kind      Kind
	EventID   string
	EventType string
	Created   time.Time // the Stripe event's creation time: orders facts
	Livemode  bool

	// Key is the account record: the subscription id, or the checkout
	// session id of a one-off order. Empty for charge and payment-link
	// facts, which name only PaymentIntent / Invoice / Charge: the worker
	// resolves those.
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
	// Locale is the customer's language as Stripe gives it: a checkout's
	// locale (not "auto"), a customer's first preferred_locales; "" if
	// the event does not say.
	Locale string

	Plan Plan // zero when the event names no plan (charges, failures); the first of Items
	// Items: the VPN plans the subscription or order holds, with their
	// seats, in Stripe's order; nil when the event does not say how many
	// (a checkout whose metadata names the plan, an invoice of prorations
	// only, charges): then the seats stay as they are.
	Items    []Item
	Amount   int64
	Currency string
	// PeriodStart, PeriodEnd: the service period this fact paid for.
	// PeriodEnd is zero when the event does not say (a subscription checkout:
	// its first invoice does).
	PeriodStart time.Time
	PeriodEnd   time.Time

	// SubscriptionState facts.
	SubStatus string    // active, past_due, unpaid, paused, canceled, incomplete, trialing, …
	TrialEnd  time.Time // TrialEnding facts: when the trial ends

	// Refunded facts: the charge is refunded in full (Stripe's "refunded").
	FullRefund bool
	// RefundReverted facts: the refund's id and when it was made.
	Refund        string
	RefundCreated time.Time
	// DisputeClosed facts: the merchant won (or the funds were reinstated).
	DisputeWon        bool
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

// errNoPlan is the ErrUnknownPlan of prices no plan lists.
var errNoPlan = fmt.Errorf("%w: no plan", ErrUnknownPlan)

// LineItems reads, through the Stripe API, what a webhook event does not
// carry: the prices a checkout session bought (for sessions whose metadata
// names no plan), and a price's lookup key (from API version basil on an
// invoice line names its price by id only).
type LineItems interface {
	// SessionPrices returns the session's line items.
	SessionPrices(ctx context.Context, sessionID string) ([]LineItem, error)
	// PriceKeys returns the price's id, lookup key (if it has one) and product.
	PriceKeys(ctx context.Context, priceID string) ([]string, error)
}

// LineItem is one line of what was bought: its price's keys (id, lookup
// key if any, product if known) and its quantity (0: not said).
type LineItem struct {
	Keys     []string
	Quantity int64
}

// Item is one VPN plan bought, and how many seats of it: a subscription
// item with quantity N gives N accounts.
type Item struct {
	Plan  Plan
	Seats int
}

// MaxSeats bounds the seats of one subscription or order: more is
// dead-lettered for an operator to look at, not provisioned in part.
const MaxSeats = 1000

// Seats is the number of seats items buy.
func Seats(items []Item) int {
	n := 0
	for _, it := range items {
		n += it.Seats
	}
	return n
}

// Translator turns Stripe events into facts.
type Translator struct {
	Catalog *Catalog
	// LineItems is used when a checkout session's metadata has no "plan",
	// and when an invoice line names by id only a price the catalog lacks;
	// nil means such sessions and invoices are ErrUnknownPlan.
	LineItems LineItems
}

// Translate reads payload, a verified Stripe event, by the fields of its
// api_version (see ReadsVersion). Errors: ErrMalformed (a payload that
// cannot be read: a version vpnbill does not read, or an object without a
// field the fact needs — the error names the version and the field),
// ErrUnknownPlan, ErrIgnored (with the reason: only for what buys no
// service), or a LineItems error (retryable). With an error, the returned
// fact holds the ids that could be read.
func (t *Translator) Translate(ctx context.Context, payload []byte) (Fact, error) {
	ev, err := ReadEvent(payload)
	if err != nil {
		return Fact{}, err
	}
	return t.TranslateEvent(ctx, ev)
}

// Event is a Stripe event read once: its envelope and its data.object.
type Event struct {
	Envelope
	// Object is data.object as it came (nil: the event has none).
	Object json.RawMessage
}

// ReadEvent decodes and checks the envelope of a Stripe event, and keeps
// its data.object, in one reading of the payload (a scan, see scanEvent;
// encoding/json for what the scan leaves to it). The object may share
// payload's memory.
func ReadEvent(payload []byte) (Event, error) {
	if env, object, ok := scanEvent(payload, true); ok {
		if err := env.check(); err != nil {
			return Event{Envelope: env}, err
		}
		return Event{Envelope: env, Object: object}, nil
	}
	var ev struct {
		Envelope
		Data struct {
			Object json.RawMessage `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(payload, &ev); err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := ev.check(); err != nil {
		return Event{Envelope: ev.Envelope}, err
	}
	return Event{Envelope: ev.Envelope, Object: ev.Data.Object}, nil
}

// TranslateEvent is Translate of an event already read (ReadEvent).
func (t *Translator) TranslateEvent(ctx context.Context, ev Event) (Fact, error) {
	env := ev.Envelope
	f := Fact{EventID: env.ID, EventType: env.Type, Created: env.CreatedTime(), Livemode: env.Livemode}
	wrap := func(err error) error { return fmt.Errorf("event %s (%s): %w", env.ID, env.Type, err) }
	if !Handled(env.Type) {
		return f, wrap(fmt.Errorf("%w: event type %s is not handled", ErrIgnored, env.Type))
	}
	r, err := readerFor(env.APIVersion)
	if err != nil {
		return f, wrap(err)
	}
	// data.object must be an object: an expandable field reads a bare
	// string as an id, so "sub_1" would otherwise read as that subscription.
	if !bytes.HasPrefix(bytes.TrimSpace(ev.Object), []byte("{")) {
		return f, fmt.Errorf("%w: event %s has no data.object", ErrMalformed, env.ID)
	}
	obj := ev.Object
	switch env.Type {
	case EventCheckoutCompleted, EventCheckoutAsyncSucceeded, EventCheckoutAsyncFailed:
		err = t.checkout(ctx, r, &f, obj)
	case EventInvoicePaid, EventInvoicePaymentFailed, EventInvoicePaymentActionRequired:
		err = t.invoice(ctx, r, &f, obj)
	case EventInvoicePaymentPaid:
		err = r.invoicePayment(&f, obj)
	case EventSubscriptionUpdated, EventSubscriptionDeleted, EventSubscriptionTrialWillEnd:
		err = t.subscription(r, &f, obj)
	case EventCustomerUpdated, EventCustomerDeleted:
		err = r.customer(&f, obj)
	case EventChargeRefunded:
		err = r.charge(&f, obj)
	case EventChargeDisputeCreated, EventDisputeClosed, EventDisputeFundsReinstated:
		err = r.dispute(&f, obj)
	case EventChargeRefundUpdated:
		err = r.refund(&f, obj)
	default:
		err = fmt.Errorf("%w: handled event type %s has no translation", ErrMalformed, env.Type)
	}
	if err != nil {
		// The partial fact names what was read, for the skip's audit record.
		return f, wrap(err)
	}
	return f, nil
}

func (t *Translator) checkout(ctx context.Context, r reader, f *Fact, obj json.RawMessage) error {
	var s checkoutSession
	if err := r.decode(obj, &s, "checkout session"); err != nil {
		return err
	}
	if s.ID == "" {
		return r.malformed("checkout session", "", "no id")
	}
	f.CheckoutSession = s.ID
	f.Amount, f.Currency = s.AmountTotal, s.Currency
	f.Customer = string(s.Customer)
	if s.CustomerDetails != nil {
		f.Email, f.CustomerName = s.CustomerDetails.Email, s.CustomerDetails.Name
	}
	if f.Email == "" {
		f.Email = s.CustomerEmail
	}
	if s.Locale != "auto" {
		f.Locale = s.Locale
	}
	f.PaymentIntent, f.Invoice = string(s.PaymentIntent), string(s.Invoice)
	switch s.Mode {
	case "subscription":
		if s.Subscription == "" {
			return r.malformed("checkout session", s.ID, "mode subscription but no subscription")
		}
		f.Subscription, f.Key = string(s.Subscription), string(s.Subscription)
	case "payment":
		f.Key, f.OneOff = s.ID, true
	default:
		return fmt.Errorf("%w: checkout mode %q buys no service", ErrIgnored, s.Mode)
	}
	if f.EventType == EventCheckoutAsyncFailed {
		f.Kind = PurchaseFailed
		return nil
	}
	switch s.PaymentStatus {
	case "paid":
	case "no_payment_required":
		// Nothing to pay: a free order (a 100% coupon) or a subscription
		// that starts with a free trial. Both are purchases of 0.
	default:
		// Completed but unpaid: an async payment (bank debit) is pending; its
		// async_payment_succeeded event will provision.
		return fmt.Errorf("%w: checkout %s payment_status %q", ErrIgnored, s.ID, s.PaymentStatus)
	}
	f.Kind = Purchase
	plan, items, err := t.checkoutPlan(ctx, &s)
	if err != nil {
		return err
	}
	f.Plan, f.Items = plan, items
	if s.PaymentStatus == "no_payment_required" && !f.OneOff && plan.Trial == TrialWait {
		return fmt.Errorf("%w: checkout %s starts a trial of plan %s, which waits for the first payment", ErrIgnored, s.ID, plan.ID)
	}
	if f.OneOff {
		f.PeriodStart = f.Created
		f.PeriodEnd = f.Created.AddDate(0, 0, plan.PeriodDays)
	}
	return nil
}

// checkoutPlan returns the plan a checkout bought and, when its line
// items were read, the seats of each plan. A session whose metadata names
// the plan says no quantity: its items are nil (one seat, or as many as
// the subscription's invoice says).
func (t *Translator) checkoutPlan(ctx context.Context, s *checkoutSession) (Plan, []Item, error) {
	if id := s.Metadata["plan"]; id != "" {
		p, ok := t.Catalog.ByID(id)
		if !ok {
			return Plan{}, nil, fmt.Errorf("%w: checkout metadata plan %q", ErrUnknownPlan, id)
		}
		return p, nil, nil
	}
	if t.LineItems == nil {
		return Plan{}, nil, fmt.Errorf("%w: checkout %s has no metadata plan and no Stripe API key is configured to read its line items", ErrUnknownPlan, s.ID)
	}
	lines, err := t.LineItems.SessionPrices(ctx, s.ID)
	if err != nil {
		return Plan{}, nil, fmt.Errorf("list line items of %s: %w", s.ID, err)
	}
	items, err := t.itemsOf(lines)
	if err != nil {
		return Plan{}, nil, err
	}
	return items[0].Plan, items, nil
}

// itemsOf returns the VPN plans the lines buy, with their seats, in the
// lines' order (one Item per line). A line no plan lists is another
// product the shop sells if the catalog names it so, else an unknown
// price. Without a plan: lines that are all other products buy no VPN
// service (ErrIgnored); an unknown one is an unknown plan (a VPN price
// missing from the plans file is never taken for another product).
func (t *Translator) itemsOf(lines []LineItem) ([]Item, error) {
	var items []Item
	var unknown [][]string
	for _, l := range lines {
		var p *Plan
		for _, k := range l.Keys {
			if plan, ok := t.Catalog.ByPrice(k); ok {
				p = &plan
				break
			}
		}
		switch {
		case p == nil && !slices.ContainsFunc(l.Keys, t.Catalog.Other):
			unknown = append(unknown, l.Keys)
		case p != nil:
			// A quantity Stripe does not state (metered prices) is one seat.
			items = append(items, Item{Plan: *p, Seats: int(max(l.Quantity, 1))})
		}
	}
	switch {
	case Seats(items) > MaxSeats:
		return nil, fmt.Errorf("%w: %d seats, more than vpnbill provisions for one order (%d)", ErrUnknownPlan, Seats(items), MaxSeats)
	case len(items) > 0:
		return items, nil
	case len(unknown) > 0 || len(lines) == 0:
		return nil, fmt.Errorf("%w for prices %v", errNoPlan, unknown)
	default:
		keys := make([][]string, len(lines))
		for i, l := range lines {
			keys[i] = l.Keys
		}
		return nil, fmt.Errorf("%w: it buys only other products than VPN (%v)", ErrIgnored, keys)
	}
}

// linesItems returns the VPN plans the invoice lines buy (one Item per
// line), and the lines' keys as read. A price named by id only (an invoice
// line from basil on) has no lookup key in the event: when no plan lists
// the ids, the lookup keys are read from the Stripe API.
func (t *Translator) linesItems(ctx context.Context, r reader, lines []invoiceLine) ([]Item, []LineItem, error) {
	keyed := make([]LineItem, 0, len(lines))
	bare := false
	for _, l := range lines {
		keyed = append(keyed, LineItem{Keys: l.price.keys(), Quantity: l.quantity})
		bare = bare || (l.price.ID != "" && !l.price.Object)
	}
	found, err := t.itemsOf(keyed)
	if !errors.Is(err, errNoPlan) || !bare {
		return found, keyed, err
	}
	if t.LineItems == nil {
		return nil, nil, fmt.Errorf("%w (api_version %s names an invoice line's price by id only: list the price id in the plans file, or set a Stripe API key to read its lookup key)", err, r.version)
	}
	for i, l := range lines {
		if l.price.ID == "" || l.price.Object {
			continue
		}
		more, err := t.LineItems.PriceKeys(ctx, l.price.ID)
		if err != nil {
			return nil, nil, fmt.Errorf("read price %s: %w", l.price.ID, err)
		}
		keyed[i].Keys = append(keyed[i].Keys, more...)
	}
	found, err = t.itemsOf(keyed)
	return found, keyed, err
}

func (t *Translator) invoice(ctx context.Context, r reader, f *Fact, obj json.RawMessage) error {
	inv, err := r.readInvoice(obj)
	f.Invoice = inv.ID
	if err != nil {
		return err
	}
	if inv.noSub != nil {
		return inv.noSub
	}
	f.Subscription, f.Key = inv.subscription, inv.subscription
	f.Email, f.CustomerName = inv.CustomerEmail, inv.CustomerName
	f.Currency, f.InvoiceURL = inv.Currency, inv.HostedInvoiceURL
	f.Customer, f.Charge, f.PaymentIntent = string(inv.Customer), inv.charge, inv.paymentIntent
	var service *invoiceLine // the subscription line of the latest period
	for i, l := range inv.lines {
		// The subscription line's period is the service period paid
		// for; the invoice's own period_* fields are the previous one.
		if l.subscription && l.period.End > 0 {
			if end := time.Unix(l.period.End, 0).UTC(); end.After(f.PeriodEnd) {
				f.PeriodStart, f.PeriodEnd = time.Unix(l.period.Start, 0).UTC(), end
				service = &inv.lines[i]
			}
		}
	}
	switch f.EventType {
	case EventInvoicePaymentFailed:
		f.Kind, f.Amount = PaymentFailed, inv.AmountDue
		return nil
	case EventInvoicePaymentActionRequired:
		if inv.HostedInvoiceURL == "" {
			// The customer can only act through the invoice's page.
			return r.malformed("invoice", inv.ID, "payment action required but no hosted_invoice_url")
		}
		f.Kind, f.Amount = PaymentActionRequired, inv.AmountDue
		return nil
	}
	f.Amount = inv.AmountPaid
	switch {
	case service == nil && r.basil:
		return r.malformed("paid invoice", inv.ID, "no line with parent.type subscription_item_details and a period")
	case service == nil:
		return r.malformed("paid invoice", inv.ID, "no line with type subscription and a period")
	case service.price.ID == "":
		return r.malformed("paid invoice", inv.ID, "no %s", service.priceField)
	}
	items, keyed, err := t.linesItems(ctx, r, inv.lines)
	if err != nil {
		return err
	}
	plan := items[0].Plan
	// The seats are the subscription's items as billed for the latest
	// period; an invoice of prorations only does not say them.
	var held []LineItem
	for i, l := range inv.lines {
		if l.subscription && !l.proration && l.period.End == service.period.End {
			held = append(held, keyed[i])
		}
	}
	if f.Items, _ = t.itemsOf(held); len(f.Items) > 0 {
		plan = f.Items[0].Plan
	}
	f.Plan = plan
	if inv.BillingReason == "subscription_create" {
		f.Kind = Purchase
	} else {
		f.Kind = Renewal
	}
	if inv.BillingReason == "subscription_create" && f.Amount == 0 && plan.Trial == TrialWait {
		return fmt.Errorf("%w: invoice %s of 0 starts a trial of plan %s, which waits for the first payment", ErrIgnored, inv.ID, plan.ID)
	}
	return nil
}

func (t *Translator) subscription(r reader, f *Fact, obj json.RawMessage) error {
	s, err := r.readSubscription(obj)
	if s.ID != "" {
		f.Subscription, f.Key = s.ID, s.ID
	}
	if err != nil {
		return err
	}
	f.Customer = string(s.Customer)
	f.SubStatus = s.Status
	f.CancelAtPeriodEnd = s.CancelAtPeriodEnd
	if s.currentPeriodEnd > 0 {
		f.CurrentPeriodEnd = time.Unix(s.currentPeriodEnd, 0).UTC()
	} else if s.CancelAtPeriodEnd {
		// The fact ends the service then: it must say when.
		return r.malformed("subscription", s.ID, "cancel_at_period_end but no %s", s.periodField)
	}
	switch f.EventType {
	case EventSubscriptionDeleted:
		f.Kind = Canceled
		return nil
	case EventSubscriptionTrialWillEnd:
		if s.TrialEnd == 0 {
			return r.malformed("subscription", s.ID, "trial_will_end but no trial_end")
		}
		f.Kind, f.TrialEnd = TrialEnding, time.Unix(s.TrialEnd, 0).UTC()
		return nil
	}
	f.Kind = SubscriptionState
	var lines []LineItem
	for _, it := range s.Items.Data {
		if it != nil {
			lines = append(lines, LineItem{Keys: it.Price.keys(), Quantity: it.Quantity})
		}
	}
	items, err := t.itemsOf(lines)
	if err != nil {
		return err
	}
	f.Plan, f.Items = items[0].Plan, items
	return nil
}

func (r reader) customer(f *Fact, obj json.RawMessage) error {
	var c struct {
		ID               string   `json:"id"`
		Email            string   `json:"email"`
		Name             string   `json:"name"`
		PreferredLocales []string `json:"preferred_locales"`
	}
	if err := r.decode(obj, &c, "customer"); err != nil {
		return err
	}
	if c.ID == "" {
		return r.malformed("customer", "", "no id")
	}
	f.Customer, f.Email, f.CustomerName = c.ID, c.Email, c.Name
	if len(c.PreferredLocales) > 0 {
		f.Locale = c.PreferredLocales[0]
	}
	f.Kind = CustomerChanged
	if f.EventType == EventCustomerDeleted {
		f.Kind = CustomerDeleted
	}
	return nil
}

func (r reader) charge(f *Fact, obj json.RawMessage) error {
	c, err := r.readCharge(obj)
	if err != nil {
		return err
	}
	f.Charge, f.Amount, f.Currency = c.ID, c.AmountRefunded, c.Currency
	f.Customer, f.Invoice, f.PaymentIntent = string(c.Customer), c.invoice, string(c.PaymentIntent)
	// Stripe sets refunded when everything captured is refunded, which is
	// less than amount when the charge was partially captured. A partial
	// refund is a fact too: audited, and a full one once they add up.
	f.Kind, f.FullRefund = Refunded, c.Refunded
	return nil
}

func (r reader) dispute(f *Fact, obj json.RawMessage) error {
	var d dispute
	if err := r.decode(obj, &d, "dispute"); err != nil {
		return err
	}
	if d.Charge == "" {
		return r.malformed("dispute", d.ID, "no charge")
	}
	f.Kind, f.Charge, f.Amount, f.Currency = Disputed, string(d.Charge), d.Amount, d.Currency
	f.PaymentIntent = string(d.PaymentIntent)
	switch f.EventType {
	case EventDisputeFundsReinstated:
		f.Kind, f.DisputeWon = DisputeClosed, true
	case EventDisputeClosed:
		// An inquiry closed without a dispute (warning_closed) is as good as won.
		f.Kind, f.DisputeWon = DisputeClosed, d.Status == "won" || d.Status == "warning_closed"
	}
	return nil
}

// invoicePayment reads an invoice_payment.paid event: the invoice and the
// payment intent or charge that paid it.
func (r reader) invoicePayment(f *Fact, obj json.RawMessage) error {
	var p invoicePayment
	if err := r.decode(obj, &p, "invoice payment"); err != nil {
		return err
	}
	f.Invoice, f.Amount, f.Currency = string(p.Invoice), p.AmountPaid, p.Currency
	f.PaymentIntent, f.Charge = string(p.Payment.PaymentIntent), string(p.Payment.Charge)
	switch {
	case p.ID == "":
		return r.malformed("invoice payment", "", "no id")
	case f.Invoice == "":
		return r.malformed("invoice payment", p.ID, "no invoice")
	case p.Payment.Type == "":
		return r.malformed("invoice payment", p.ID, "no payment.type")
	case p.Payment.Type == "payment_intent" && f.PaymentIntent == "":
		return r.malformed("invoice payment", p.ID, "payment.type payment_intent but no payment.payment_intent")
	case p.Payment.Type == "charge" && f.Charge == "":
		return r.malformed("invoice payment", p.ID, "payment.type charge but no payment.charge")
	case f.PaymentIntent == "" && f.Charge == "":
		// Paid out of band (payment.type payment_record): no Stripe
		// charge to refund or dispute, so nothing to link.
		return fmt.Errorf("%w: invoice payment %s of %s is by %q: no charge or payment intent to link", ErrIgnored, p.ID, f.Invoice, p.Payment.Type)
	}
	f.Kind = PaymentLinked
	return nil
}
