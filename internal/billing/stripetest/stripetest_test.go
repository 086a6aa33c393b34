package stripetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
)

// TestObjectsKeepSampleFields: every builder, in every version, from zero
// input up, keeps every field of the version's sample, adds none the
// version lacks (a basil invoice has no charge), and reads back as
// stripe-go's type (which ignores the fields its 2023-10-16 lacks, but not
// a field of the wrong type).
func TestObjectsKeepSampleFields(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, v := range Versions {
		tests := []struct {
			kind string
			obj  map[string]any
			into any
		}{
			{"checkout.session", CheckoutSession(Checkout{Version: v}), &stripe.CheckoutSession{}},
			{"checkout.session", CheckoutSession(Checkout{Version: v, Subscription: "sub_1", Paid: true}), &stripe.CheckoutSession{}},
			{"invoice", InvoiceObject(Invoice{Version: v}), &stripe.Invoice{}},
			{"invoice", InvoiceObject(Invoice{Version: v, Subscription: "sub_1", BillingReason: "subscription_cycle", PeriodStart: at, Charge: "ch_1", PaymentIntent: "pi_1"}), &stripe.Invoice{}},
			{"subscription", SubscriptionObject(Subscription{Version: v}), &stripe.Subscription{}},
			{"subscription", SubscriptionObject(Subscription{Version: v, Status: "canceled"}), &stripe.Subscription{}},
			{"charge", ChargeObject(Charge{Version: v}), &stripe.Charge{}},
			{"charge", ChargeObject(Charge{Version: v, Amount: 100, AmountRefunded: 40, Invoice: "in_1"}), &stripe.Charge{}},
			{"dispute", DisputeObject(Dispute{Version: v}), &stripe.Dispute{}},
			{"refund", RefundObject(Refund{Version: v, Status: "succeeded"}), &stripe.Refund{}},
			{"refund", RefundObject(Refund{Version: v, Status: "canceled", Charge: "ch_1", PaymentIntent: "pi_1", Customer: "cus_1", Amount: 40}), &stripe.Refund{}},
			{"invoice_payment", InvoicePaymentObject(InvoicePayment{Version: v}), &map[string]any{}},
		}
		for _, tt := range tests {
			name := tt.kind + " " + v
			want := sample(v, tt.kind)
			for key := range want {
				if _, ok := tt.obj[key]; !ok {
					t.Errorf("%s: sample field %s dropped", name, key)
				}
			}
			for key := range tt.obj {
				if _, ok := want[key]; !ok {
					t.Errorf("%s: field %s added, which the version does not have", name, key)
				}
			}
			b, err := json.Marshal(tt.obj)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, tt.into); err != nil {
				t.Errorf("%s: stripe-go cannot read it: %v", name, err)
			}
		}
	}
}

// TestSampleVersions: every version has its own samples, and a builder of
// any version starts from its family's.
func TestSampleVersions(t *testing.T) {
	t.Parallel()
	for _, v := range Versions {
		if sampleVersion(v) != v {
			t.Errorf("sampleVersion(%s) = %s", v, sampleVersion(v))
		}
	}
	for v, want := range map[string]string{
		"": "2023-10-16", "2019-01-01": "2023-10-16", "2024-06-20": "2023-10-16",
		"2024-09-30.acacia": "2024-12-18.acacia", "2025-03-31.basil": "2025-07-30.basil",
		"2026-01-28.clover": "2025-12-15.clover", "2027-01-27.dahlia": "2026-07-29.dahlia", "2026-09-30.elm": "2026-07-29.dahlia",
	} {
		if got := sampleVersion(v); got != want {
			t.Errorf("sampleVersion(%q) = %s, want %s", v, got, want)
		}
	}
	// The samples of a family are the family's: basil's invoice has a parent.
	for _, v := range Versions {
		_, hasParent := sample(v, "invoice")["parent"]
		if hasParent != basil(v) {
			t.Errorf("%s: invoice sample has parent %v, but basil(%s) = %v", v, hasParent, v, basil(v))
		}
	}
}

func TestEventNamesItsVersion(t *testing.T) {
	t.Parallel()
	for _, v := range append([]string{""}, Versions...) {
		var ev struct {
			APIVersion string `json:"api_version"`
			Type       string
		}
		payload := InvoicePaymentPaid("evt_1", time.Now(), InvoicePayment{Version: v})
		if err := json.Unmarshal(payload, &ev); err != nil {
			t.Fatal(err)
		}
		want := v
		if v == "" {
			want = DefaultVersion
		}
		if ev.APIVersion != want || ev.Type != "invoice_payment.paid" {
			t.Errorf("version %q: event of api_version %q, type %q", v, ev.APIVersion, ev.Type)
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

// basilInvoice is what a basil invoice.paid must say, and where.
type basilInvoice struct {
	Type string
	Data struct {
		Object struct {
			ID           string
			Status       string
			Subscription *string
			Parent       *struct {
				Type                string
				SubscriptionDetails struct{ Subscription string } `json:"subscription_details"`
			}
			Lines struct {
				Data []struct {
					Parent struct {
						Type                    string
						SubscriptionItemDetails struct{ Subscription string } `json:"subscription_item_details"`
					}
					Pricing struct {
						PriceDetails struct{ Price any } `json:"price_details"`
					}
					Period struct{ Start, End int64 }
				}
			}
		}
	}
}

func TestInvoiceShapeBasil(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 8, 1, 12, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 1, 0)
	for _, v := range Versions[2:] {
		payload := InvoicePaid("evt_1", end, Invoice{
			ID: "in_1", Subscription: "sub_1", BillingReason: "subscription_cycle", Price: "price_1", LookupKey: "std",
			PeriodStart: start, PeriodEnd: end, AmountDue: 999, Charge: "ch_1", PaymentIntent: "pi_1", Version: v,
		})
		var ev basilInvoice
		if err := json.Unmarshal(payload, &ev); err != nil {
			t.Fatal(err)
		}
		inv := ev.Data.Object
		if inv.Subscription != nil || inv.Parent == nil || inv.Parent.Type != "subscription_details" ||
			inv.Parent.SubscriptionDetails.Subscription != "sub_1" || inv.Status != "paid" {
			t.Errorf("%s: invoice subscription %v, parent %+v, status %s; want it under parent only", v, inv.Subscription, inv.Parent, inv.Status)
		}
		if len(inv.Lines.Data) != 1 {
			t.Fatalf("%s: %d lines", v, len(inv.Lines.Data))
		}
		l := inv.Lines.Data[0]
		if l.Parent.Type != "subscription_item_details" || l.Parent.SubscriptionItemDetails.Subscription != "sub_1" ||
			fmt.Sprint(l.Pricing.PriceDetails.Price) != "price_1" || l.Period.Start != start.Unix() || l.Period.End != end.Unix() {
			t.Errorf("%s: line %+v", v, l)
		}
		var raw struct {
			Data struct{ Object map[string]json.RawMessage }
		}
		if err := json.Unmarshal(payload, &raw); err != nil {
			t.Fatal(err)
		}
		for _, gone := range []string{"charge", "payment_intent", "paid"} {
			if _, ok := raw.Data.Object[gone]; ok {
				t.Errorf("%s: invoice has %s, which basil removed", v, gone)
			}
		}
	}
	// Without a subscription, a basil invoice has no parent.
	o := InvoiceObject(Invoice{Version: "2025-07-30.basil"})
	if o["parent"] != nil {
		t.Errorf("one-off basil invoice parent = %v, want null", o["parent"])
	}
}
