package stripetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
)

// TestObjectsKeepSampleFields: every builder, from zero input up, keeps
// every field of Stripe's sample and reads back as stripe-go's type.
func TestObjectsKeepSampleFields(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		kind string
		obj  map[string]any
		into any
	}{
		{"checkout.session", CheckoutSession(Checkout{}), &stripe.CheckoutSession{}},
		{"invoice", InvoiceObject(Invoice{}), &stripe.Invoice{}},
		{"invoice", InvoiceObject(Invoice{Subscription: "sub_1", BillingReason: "subscription_cycle", PeriodStart: at}), &stripe.Invoice{}},
		{"subscription", SubscriptionObject(Subscription{}), &stripe.Subscription{}},
		{"subscription", SubscriptionObject(Subscription{Status: "canceled"}), &stripe.Subscription{}},
		{"charge", ChargeObject(Charge{}), &stripe.Charge{}},
		{"charge", ChargeObject(Charge{Amount: 100, AmountRefunded: 40}), &stripe.Charge{}},
		{"dispute", DisputeObject(Dispute{}), &stripe.Dispute{}},
	}
	for _, tt := range tests {
		for key := range sample(tt.kind) {
			if _, ok := tt.obj[key]; !ok {
				t.Errorf("%s: sample field %s dropped", tt.kind, key)
			}
		}
		b, err := json.Marshal(tt.obj)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, tt.into); err != nil {
			t.Errorf("%s: stripe-go cannot read it: %v", tt.kind, err)
		}
	}
}

func TestInvoiceShape(t *testing.T) {
	t.Parallel()
	start := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 1, 0)
	var ev struct {
		Type string
		Data struct{ Object stripe.Invoice }
	}
	payload := InvoicePaid("evt_1", end, Invoice{
		ID: "in_1", Subscription: "sub_1", BillingReason: "subscription_cycle", Price: "price_1", LookupKey: "std",
		PeriodStart: start, PeriodEnd: end, AmountDue: 999,
	})
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	inv := ev.Data.Object
	if ev.Type != "invoice.paid" || !inv.Paid || inv.Status != "paid" || inv.AmountPaid != 999 || inv.AmountRemaining != 0 {
		t.Errorf("not a paid invoice: %s paid=%v status=%s amount_paid=%d remaining=%d", ev.Type, inv.Paid, inv.Status, inv.AmountPaid, inv.AmountRemaining)
	}
	if inv.Subscription == nil || inv.Subscription.ID != "sub_1" || inv.BillingReason != "subscription_cycle" || inv.Created != end.Unix() {
		t.Errorf("invoice %+v", inv)
	}
	if inv.PeriodEnd != start.Unix() || inv.PeriodStart >= start.Unix() {
		t.Errorf("invoice period %d–%d, want the period before %d", inv.PeriodStart, inv.PeriodEnd, start.Unix())
	}
	if len(inv.Lines.Data) != 1 {
		t.Fatalf("%d lines", len(inv.Lines.Data))
	}
	l := inv.Lines.Data[0]
	if l.Type != "subscription" || l.Period.Start != start.Unix() || l.Period.End != end.Unix() ||
		l.Price.ID != "price_1" || l.Price.LookupKey != "std" || l.Subscription.ID != "sub_1" {
		t.Errorf("line %+v", l)
	}
}
