package stripetest

import "time"

// Subscription describes a subscription with one item, the plan's price.
type Subscription struct {
	ID       string // default a new sub_ id
	Customer string // default a new cus_ id
	// Status: active, past_due, unpaid, paused, canceled, incomplete,
	// incomplete_expired or trialing. Default active (canceled in
	// SubscriptionDeleted).
	Status            string
	Price             string // the item's price id; default a new price_ id
	LookupKey         string // the price's lookup_key; empty: none
	Quantity          int64  // the item's quantity (seats); default 1
	CancelAtPeriodEnd bool
	// CurrentPeriodStart, CurrentPeriodEnd: default Created and one month
	// after CurrentPeriodStart. On the subscription up to acacia, on its
	// item from basil on.
	CurrentPeriodStart time.Time
	CurrentPeriodEnd   time.Time
	Currency           string // default "eur"
	// Created is the subscription's creation time; default
	// CurrentPeriodStart, else now.
	Created time.Time
	// TrialEnd: when a free trial ends (status trialing until then); zero:
	// no trial.
	TrialEnd time.Time
	Version  string // API version; default DefaultVersion
}

// SubscriptionObject returns the subscription object s describes.
func SubscriptionObject(s Subscription) map[string]any {
	o := sample(s.Version, "subscription")
	if s.ID == "" {
		s.ID = ID("sub")
	}
	if s.Customer == "" {
		s.Customer = ID("cus")
	}
	if s.Status == "" {
		s.Status = "active"
	}
	if s.Price == "" {
		s.Price = ID("price")
	}
	if s.Currency == "" {
		s.Currency = "eur"
	}
	if s.Created.IsZero() {
		s.Created = s.CurrentPeriodStart
	}
	s.Created = orNow(s.Created)
	if s.CurrentPeriodStart.IsZero() {
		s.CurrentPeriodStart = s.Created
	}
	if s.CurrentPeriodEnd.IsZero() {
		s.CurrentPeriodEnd = s.CurrentPeriodStart.AddDate(0, 1, 0)
	}
	created := s.Created.Unix()

	o["id"] = s.ID
	o["customer"] = s.Customer
	o["status"] = s.Status
	o["currency"] = s.Currency
	o["created"], o["start_date"] = created, created
	o["billing_cycle_anchor"] = s.Created.Unix()
	if !basil(s.Version) {
		o["current_period_start"] = s.CurrentPeriodStart.Unix()
		o["current_period_end"] = s.CurrentPeriodEnd.Unix()
	}
	o["trial_start"], o["trial_end"] = nil, nil
	if !s.TrialEnd.IsZero() {
		o["trial_start"], o["trial_end"] = s.Created.Unix(), s.TrialEnd.Unix()
	}
	o["next_pending_invoice_item_invoice"], o["pending_update"] = nil, nil
	o["latest_invoice"] = ID("in")
	o["cancel_at_period_end"] = s.CancelAtPeriodEnd
	o["cancel_at"], o["canceled_at"], o["ended_at"] = nil, nil, nil
	details := child(o, "cancellation_details")
	details["reason"] = nil
	switch {
	case s.Status == "canceled" || s.Status == "incomplete_expired":
		// Ended: Stripe stamps when; a subscription's last period ends then.
		o["canceled_at"], o["ended_at"] = s.CurrentPeriodEnd.Unix(), s.CurrentPeriodEnd.Unix()
		details["reason"] = "cancellation_requested"
	case s.CancelAtPeriodEnd:
		o["cancel_at"] = s.CurrentPeriodEnd.Unix()
		o["canceled_at"] = s.CurrentPeriodStart.Unix()
		details["reason"] = "cancellation_requested"
	}

	child(o, "items")["url"] = "/v1/subscription_items?subscription=" + s.ID
	item := firstOf(o, "items")
	item["id"] = ID("si")
	item["subscription"] = s.ID
	item["created"] = created
	item["billing_thresholds"] = nil
	item["quantity"] = max(s.Quantity, 1)
	amount := int64(0)
	if p, ok := item["price"].(map[string]any); ok {
		if a, ok := p["unit_amount"].(float64); ok {
			amount = int64(a)
		}
	}
	price := priceObject(s.Version, s.Price, s.LookupKey, s.Currency, amount, true, s.Created)
	item["price"] = price
	if plan, ok := item["plan"].(map[string]any); ok { // acacia on
		asPlan(plan, price)
	}
	if basil(s.Version) {
		item["current_period_start"] = s.CurrentPeriodStart.Unix()
		item["current_period_end"] = s.CurrentPeriodEnd.Unix()
	}
	return o
}

// asPlan makes plan, a sample plan, the legacy plan Stripe shows beside
// the recurring price.
func asPlan(plan, price map[string]any) {
	plan["id"] = price["id"]
	plan["amount"], plan["amount_decimal"] = price["unit_amount"], price["unit_amount_decimal"]
	plan["currency"], plan["product"], plan["created"] = price["currency"], price["product"], price["created"]
	plan["billing_scheme"], plan["interval"], plan["interval_count"] = "per_unit", "month", 1
	plan["livemode"], plan["metadata"], plan["transform_usage"] = false, map[string]any{}, nil
}

// SubscriptionTrialWillEnd returns a customer.subscription.trial_will_end
// event, which Stripe sends three days before s.TrialEnd.
func SubscriptionTrialWillEnd(eventID string, created time.Time, s Subscription) []byte {
	if s.Status == "" {
		s.Status = "trialing"
	}
	return VersionedEvent(s.Version, eventID, "customer.subscription.trial_will_end", created, SubscriptionObject(s))
}

// SubscriptionUpdated returns a customer.subscription.updated event.
func SubscriptionUpdated(eventID string, created time.Time, s Subscription) []byte {
	return VersionedEvent(s.Version, eventID, "customer.subscription.updated", created, SubscriptionObject(s))
}

// SubscriptionDeleted returns a customer.subscription.deleted event: the
// subscription ended (Status default canceled), and was canceled at the
// event's time unless its period says otherwise.
func SubscriptionDeleted(eventID string, created time.Time, s Subscription) []byte {
	if s.Status == "" {
		s.Status = "canceled"
	}
	if s.CurrentPeriodEnd.IsZero() && s.CurrentPeriodStart.IsZero() && s.Created.IsZero() {
		s.CurrentPeriodEnd = created
		s.CurrentPeriodStart = created.AddDate(0, -1, 0)
	}
	return VersionedEvent(s.Version, eventID, "customer.subscription.deleted", created, SubscriptionObject(s))
}
