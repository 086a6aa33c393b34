package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
)

// testPlans is the catalog the Translator tests read.
const testPlans = `plans:
  - id: std-monthly
    name: Standard VPN, monthly
    stripe_prices: [price_std, std_monthly]
    provider: purevpn
  - id: hbw-yearly
    stripe_prices: [price_hbw_year]
    provider: purevpn
    package_type: HIGH-BW
    period_days: 365
  - id: tunnel-90
    stripe_prices: [price_tunnel]
    provider: vpnki
    period_days: 90
`

func testCatalog(t testing.TB) *Catalog {
	t.Helper()
	c, err := ParseCatalog([]byte(testPlans))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func plan(t testing.TB, id string) Plan {
	t.Helper()
	p, ok := testCatalog(t).ByID(id)
	if !ok {
		t.Fatalf("no plan %s", id)
	}
	return p
}

// seat is one seat of plan p, as an event that states its items says.
func seat(p Plan) []Item { return []Item{{Plan: p, Seats: 1}} }

// sessionPrices is a LineItems answering from a map of session id → line
// items (each its price's keys, quantity not said); it knows no price by id.
type sessionPrices map[string][][]string

func (s sessionPrices) SessionPrices(_ context.Context, sessionID string) ([]LineItem, error) {
	p, ok := s[sessionID]
	if !ok {
		return nil, fmt.Errorf("no such checkout session: %s", sessionID)
	}
	lines := make([]LineItem, len(p))
	for i, keys := range p {
		lines[i] = LineItem{Keys: keys}
	}
	return lines, nil
}

func (s sessionPrices) PriceKeys(_ context.Context, priceID string) ([]string, error) {
	return nil, fmt.Errorf("no such price: %s", priceID)
}

var errStripeDown = errors.New("stripe API: 503 Service Unavailable")

// failingLineItems is a LineItems whose Stripe API is down.
type failingLineItems struct{}

func (failingLineItems) SessionPrices(context.Context, string) ([]LineItem, error) {
	return nil, errStripeDown
}

func (failingLineItems) PriceKeys(context.Context, string) ([]string, error) {
	return nil, errStripeDown
}

// withEnvelope returns payload with its top-level field key set to v.
func withEnvelope(t testing.TB, payload []byte, key string, v any) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	ev[key] = v
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// anyID matches, in a wanted Fact's id field, any id with that prefix: the
// builders make up ids a scenario does not set.
const anyID = "*"

func TestTranslate(t *testing.T) {
	t.Parallel()
	created := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	start, end := created, created.AddDate(0, 1, 0)
	std, hbw, tunnel := plan(t, "std-monthly"), plan(t, "hbw-yearly"), plan(t, "tunnel-90")

	subCheckout := stripetest.Checkout{
		ID: "cs_sub", Subscription: "sub_1", Customer: "cus_ada", Email: "ada@example.com", Name: "Ada Lovelace",
		Plan: "std-monthly", Paid: true, Amount: 999, Currency: "eur",
	}
	oneOff := stripetest.Checkout{
		ID: "cs_once", Customer: "cus_ada", Email: "ada@example.com", Plan: "hbw-yearly", Paid: true, Amount: 4999, Currency: "usd",
	}
	noPlan := oneOff
	noPlan.Plan = ""
	unknownPlan := subCheckout
	unknownPlan.Plan = "gold-forever"
	unpaid := subCheckout
	unpaid.Paid = false

	inv := stripetest.Invoice{
		ID: "in_1", Subscription: "sub_1", Customer: "cus_ada", Email: "ada@example.com", Name: "Ada Lovelace",
		BillingReason: "subscription_create", Price: "price_std", PeriodStart: start, PeriodEnd: end,
		AmountDue: 999, Currency: "eur", Charge: "ch_1", PaymentIntent: "pi_1",
		HostedInvoiceURL: "https://invoice.stripe.com/i/acct_1/test_1",
	}
	with := func(i stripetest.Invoice, f func(*stripetest.Invoice)) stripetest.Invoice { f(&i); return i }
	cycle := with(inv, func(i *stripetest.Invoice) {
		i.ID, i.BillingReason = "in_2", "subscription_cycle"
		i.PeriodStart, i.PeriodEnd = end, end.AddDate(0, 1, 0)
	})
	invFact := Fact{
		Key: "sub_1", Subscription: "sub_1", Invoice: "in_1", Customer: "cus_ada", Email: "ada@example.com",
		CustomerName: "Ada Lovelace", Charge: "ch_1", PaymentIntent: "pi_1", InvoiceURL: "https://invoice.stripe.com/i/acct_1/test_1",
		Amount: 999, Currency: "eur", PeriodStart: start, PeriodEnd: end,
	}
	withFact := func(f Fact, g func(*Fact)) Fact { g(&f); return f }

	sub := stripetest.Subscription{
		ID: "sub_1", Customer: "cus_ada", Status: "past_due", Price: "price_tunnel", CancelAtPeriodEnd: true,
		CurrentPeriodStart: start, CurrentPeriodEnd: end,
	}

	// A charge captured in part (800 of 1000) and refunded all it captured:
	// Stripe calls it refunded.
	partCaptured := stripetest.ChargeObject(stripetest.Charge{
		ID: "ch_part", PaymentIntent: "pi_part", Amount: 1000, AmountRefunded: 800, Currency: "eur", Created: created,
	})
	partCaptured["amount_captured"], partCaptured["refunded"] = 800, true

	tests := []struct {
		name      string
		payload   []byte
		lineItems LineItems
		want      Fact  // EventID, EventType and Created are added
		wantErr   error // nil: success
	}{
		{
			name:    "checkout paid subscription",
			payload: stripetest.CheckoutCompleted("evt_1", created, subCheckout),
			want: Fact{
				Kind: Purchase, Key: "sub_1", Subscription: "sub_1", CheckoutSession: "cs_sub", Invoice: "in_" + anyID,
				Customer: "cus_ada", Email: "ada@example.com", CustomerName: "Ada Lovelace",
				Plan: std, Amount: 999, Currency: "eur",
			},
		},
		{
			name:    "checkout one-off",
			payload: stripetest.CheckoutCompleted("evt_1", created, oneOff),
			want: Fact{
				Kind: Purchase, Key: "cs_once", OneOff: true, CheckoutSession: "cs_once", PaymentIntent: "pi_" + anyID,
				Customer: "cus_ada", Email: "ada@example.com", Plan: hbw, Amount: 4999, Currency: "usd",
				PeriodStart: created, PeriodEnd: created.AddDate(0, 0, 365),
			},
		},
		{
			name:    "checkout unpaid (async payment pending)",
			payload: stripetest.CheckoutCompleted("evt_1", created, unpaid),
			want: Fact{
				Key: "sub_1", Subscription: "sub_1", CheckoutSession: "cs_sub", Invoice: "in_" + anyID,
				Customer: "cus_ada", Email: "ada@example.com", CustomerName: "Ada Lovelace", Amount: 999, Currency: "eur",
			},
			wantErr: ErrIgnored,
		},
		{
			name:    "checkout async succeeded",
			payload: stripetest.CheckoutAsyncSucceeded("evt_1", created, unpaid),
			want: Fact{
				Kind: Purchase, Key: "sub_1", Subscription: "sub_1", CheckoutSession: "cs_sub", Invoice: "in_" + anyID,
				Customer: "cus_ada", Email: "ada@example.com", CustomerName: "Ada Lovelace",
				Plan: std, Amount: 999, Currency: "eur",
			},
		},
		{
			name:    "checkout async failed",
			payload: stripetest.CheckoutAsyncFailed("evt_1", created, oneOff),
			want: Fact{
				Kind: PurchaseFailed, Key: "cs_once", OneOff: true, CheckoutSession: "cs_once", PaymentIntent: "pi_" + anyID,
				Customer: "cus_ada", Email: "ada@example.com", Amount: 4999, Currency: "usd",
			},
		},
		{
			name:    "checkout without plan, no line items reader",
			payload: stripetest.CheckoutCompleted("evt_1", created, noPlan),
			want: Fact{
				Kind: Purchase, Key: "cs_once", OneOff: true, CheckoutSession: "cs_once", PaymentIntent: "pi_" + anyID,
				Customer: "cus_ada", Email: "ada@example.com", Amount: 4999, Currency: "usd",
			},
			wantErr: ErrUnknownPlan,
		},
		{
			name:      "checkout without plan, line items by lookup key",
			payload:   stripetest.CheckoutCompleted("evt_1", created, noPlan),
			lineItems: sessionPrices{"cs_once": {{"price_1OPougJN5vQBdWEx6kfkXDIL", "std_monthly"}}},
			want: Fact{
				Kind: Purchase, Key: "cs_once", OneOff: true, CheckoutSession: "cs_once", PaymentIntent: "pi_" + anyID,
				Customer: "cus_ada", Email: "ada@example.com", Plan: std, Items: seat(std), Amount: 4999, Currency: "usd",
				PeriodStart: created, PeriodEnd: created.AddDate(0, 0, 30),
			},
		},
		{
			name:      "checkout without plan, line items of two plans: a seat of each",
			payload:   stripetest.CheckoutCompleted("evt_1", created, noPlan),
			lineItems: sessionPrices{"cs_once": {{"price_std"}, {"price_tunnel"}}},
			want: Fact{
				Kind: Purchase, Key: "cs_once", OneOff: true, CheckoutSession: "cs_once", PaymentIntent: "pi_" + anyID,
				Customer: "cus_ada", Email: "ada@example.com", Plan: std, Amount: 4999, Currency: "usd",
				Items:       []Item{{Plan: std, Seats: 1}, {Plan: plan(t, "tunnel-90"), Seats: 1}},
				PeriodStart: created, PeriodEnd: created.AddDate(0, 0, 30),
			},
		},
		{
			name:      "checkout without plan, Stripe API down (retryable)",
			payload:   stripetest.CheckoutCompleted("evt_1", created, noPlan),
			lineItems: failingLineItems{},
			want: Fact{
				Kind: Purchase, Key: "cs_once", OneOff: true, CheckoutSession: "cs_once", PaymentIntent: "pi_" + anyID,
				Customer: "cus_ada", Email: "ada@example.com", Amount: 4999, Currency: "usd",
			},
			wantErr: errStripeDown,
		},
		{
			name:      "checkout metadata names an unknown plan",
			payload:   stripetest.CheckoutCompleted("evt_1", created, unknownPlan),
			lineItems: sessionPrices{"cs_sub": {{"price_std"}}}, // metadata wins
			want: Fact{
				Kind: Purchase, Key: "sub_1", Subscription: "sub_1", CheckoutSession: "cs_sub", Invoice: "in_" + anyID,
				Customer: "cus_ada", Email: "ada@example.com", CustomerName: "Ada Lovelace", Amount: 999, Currency: "eur",
			},
			wantErr: ErrUnknownPlan,
		},
		{
			name: "checkout in setup mode",
			payload: stripetest.Event("evt_1", EventCheckoutCompleted, created,
				func() map[string]any {
					o := stripetest.CheckoutSession(stripetest.Checkout{ID: "cs_setup", Customer: "cus_ada", Paid: true})
					o["mode"], o["payment_intent"], o["payment_status"] = "setup", nil, "no_payment_required"
					return o
				}()),
			want:    Fact{CheckoutSession: "cs_setup", Customer: "cus_ada", Currency: "eur"},
			wantErr: ErrIgnored,
		},
		{
			name:    "invoice.paid subscription_create",
			payload: stripetest.InvoicePaid("evt_1", created, inv),
			want:    withFact(invFact, func(f *Fact) { f.Kind, f.Plan, f.Items = Purchase, std, seat(std) }),
		},
		{
			name:    "invoice.paid subscription_cycle: the line's period, not the invoice's",
			payload: stripetest.InvoicePaid("evt_1", created, cycle),
			want: withFact(invFact, func(f *Fact) {
				f.Kind, f.Plan, f.Invoice, f.Items = Renewal, std, "in_2", seat(std)
				f.PeriodStart, f.PeriodEnd = end, end.AddDate(0, 1, 0)
			}),
		},
		{
			name:    "invoice.paid subscription_update",
			payload: stripetest.InvoicePaid("evt_1", created, with(inv, func(i *stripetest.Invoice) { i.BillingReason, i.Price = "subscription_update", "price_hbw_year" })),
			want:    withFact(invFact, func(f *Fact) { f.Kind, f.Plan, f.Items = Renewal, hbw, seat(hbw) }),
		},
		{
			name:    "invoice.paid by lookup key",
			payload: stripetest.InvoicePaid("evt_1", created, with(inv, func(i *stripetest.Invoice) { i.Price, i.LookupKey = "price_new_in_dashboard", "std_monthly" })),
			want:    withFact(invFact, func(f *Fact) { f.Kind, f.Plan, f.Items = Purchase, std, seat(std) }),
		},
		{
			name:    "invoice.paid price unknown",
			payload: stripetest.InvoicePaid("evt_1", created, with(inv, func(i *stripetest.Invoice) { i.Price = "price_gold" })),
			want:    invFact,
			wantErr: ErrUnknownPlan,
		},
		{
			name: "invoice.paid without subscription",
			payload: stripetest.InvoicePaid("evt_1", created, with(inv, func(i *stripetest.Invoice) {
				i.Subscription, i.BillingReason = "", "manual"
			})),
			want:    Fact{Invoice: "in_1"},
			wantErr: ErrIgnored,
		},
		{
			name: "invoice.payment_failed",
			payload: stripetest.InvoicePaymentFailed("evt_1", created, with(inv, func(i *stripetest.Invoice) {
				i.BillingReason, i.AmountDue, i.Charge = "subscription_cycle", 1299, "ch_failed"
			})),
			want: withFact(invFact, func(f *Fact) { f.Kind, f.Amount, f.Charge = PaymentFailed, 1299, "ch_failed" }),
		},
		{
			name: "invoice.payment_failed of an unknown price: still news",
			payload: stripetest.InvoicePaymentFailed("evt_1", created, with(inv, func(i *stripetest.Invoice) {
				i.Price = "price_gold"
			})),
			want: withFact(invFact, func(f *Fact) { f.Kind = PaymentFailed }),
		},
		{
			name:    "customer.subscription.updated past_due",
			payload: stripetest.SubscriptionUpdated("evt_1", created, sub),
			want: Fact{
				Kind: SubscriptionState, Key: "sub_1", Subscription: "sub_1", Customer: "cus_ada", Plan: tunnel,
				Items: seat(tunnel), SubStatus: "past_due", CancelAtPeriodEnd: true, CurrentPeriodEnd: end,
			},
		},
		{
			name: "customer.subscription.updated by lookup key, active",
			payload: stripetest.SubscriptionUpdated("evt_1", created, stripetest.Subscription{
				ID: "sub_1", Customer: "cus_ada", Status: "active", Price: "price_other", LookupKey: "std_monthly",
				CurrentPeriodStart: start, CurrentPeriodEnd: end,
			}),
			want: Fact{
				Kind: SubscriptionState, Key: "sub_1", Subscription: "sub_1", Customer: "cus_ada", Plan: std,
				Items: seat(std), SubStatus: "active", CurrentPeriodEnd: end,
			},
		},
		{
			name: "customer.subscription.updated to an unknown price",
			payload: stripetest.SubscriptionUpdated("evt_1", created, stripetest.Subscription{
				ID: "sub_1", Customer: "cus_ada", Status: "active", Price: "price_gold", CurrentPeriodStart: start, CurrentPeriodEnd: end,
			}),
			want: Fact{
				Kind: SubscriptionState, Key: "sub_1", Subscription: "sub_1", Customer: "cus_ada",
				SubStatus: "active", CurrentPeriodEnd: end,
			},
			wantErr: ErrUnknownPlan,
		},
		{
			name: "customer.subscription.deleted",
			payload: stripetest.SubscriptionDeleted("evt_1", created, stripetest.Subscription{
				ID: "sub_1", Customer: "cus_ada", Price: "price_gold", CurrentPeriodStart: start, CurrentPeriodEnd: end,
			}),
			want: Fact{
				Kind: Canceled, Key: "sub_1", Subscription: "sub_1", Customer: "cus_ada", SubStatus: "canceled", CurrentPeriodEnd: end,
			},
		},
		{
			name: "charge.refunded in full",
			payload: stripetest.ChargeRefunded("evt_1", created, stripetest.Charge{
				ID: "ch_1", Customer: "cus_ada", Invoice: "in_1", PaymentIntent: "pi_1", Amount: 999, AmountRefunded: 999, Currency: "eur",
			}),
			want: Fact{Kind: Refunded, FullRefund: true, Charge: "ch_1", Customer: "cus_ada", Invoice: "in_1", PaymentIntent: "pi_1", Amount: 999, Currency: "eur"},
		},
		{
			name:    "charge.refunded in full of a partially captured charge",
			payload: stripetest.Event("evt_1", EventChargeRefunded, created, partCaptured),
			want:    Fact{Kind: Refunded, FullRefund: true, Charge: "ch_part", PaymentIntent: "pi_part", Amount: 800, Currency: "eur"},
		},
		{
			name: "charge.refunded in part",
			payload: stripetest.ChargeRefunded("evt_1", created, stripetest.Charge{
				ID: "ch_1", Customer: "cus_ada", Invoice: "in_1", PaymentIntent: "pi_1", Amount: 999, AmountRefunded: 500, Currency: "eur",
			}),
			// A fact: audited, and full once the refunds add up.
			want: Fact{Kind: Refunded, Charge: "ch_1", Customer: "cus_ada", Invoice: "in_1", PaymentIntent: "pi_1", Amount: 500, Currency: "eur"},
		},
		{
			name: "charge.dispute.created",
			payload: stripetest.DisputeCreated("evt_1", created, stripetest.Dispute{
				ID: "dp_1", Charge: "ch_1", PaymentIntent: "pi_1", Amount: 999, Currency: "eur",
			}),
			want: Fact{Kind: Disputed, Charge: "ch_1", PaymentIntent: "pi_1", Amount: 999, Currency: "eur"},
		},
		{
			name: "charge.dispute.closed, won",
			payload: stripetest.DisputeClosed("evt_1", created, stripetest.Dispute{
				ID: "dp_1", Charge: "ch_1", PaymentIntent: "pi_1", Amount: 999, Currency: "eur", Status: "won",
			}),
			want: Fact{Kind: DisputeClosed, DisputeWon: true, Charge: "ch_1", PaymentIntent: "pi_1", Amount: 999, Currency: "eur"},
		},
		{
			name: "charge.dispute.closed, lost",
			payload: stripetest.DisputeClosed("evt_1", created, stripetest.Dispute{
				ID: "dp_1", Charge: "ch_1", Amount: 999, Currency: "eur", Status: "lost",
			}),
			want: Fact{Kind: DisputeClosed, Charge: "ch_1", Amount: 999, Currency: "eur"},
		},
		{
			name: "charge.dispute.funds_reinstated",
			payload: stripetest.DisputeFundsReinstated("evt_1", created, stripetest.Dispute{
				ID: "dp_1", Charge: "ch_1", Amount: 999, Currency: "eur",
			}),
			want: Fact{Kind: DisputeClosed, DisputeWon: true, Charge: "ch_1", Amount: 999, Currency: "eur"},
		},
		{
			name:    "unhandled type",
			payload: stripetest.Event("evt_1", "customer.created", created, map[string]any{"id": "cus_ada", "object": "customer"}),
			want:    Fact{},
			wantErr: ErrIgnored,
		},
		{
			name:    "livemode is carried",
			payload: withEnvelope(t, stripetest.DisputeCreated("evt_1", created, stripetest.Dispute{Charge: "ch_1", Amount: 5, Currency: "eur"}), "livemode", true),
			want:    Fact{Kind: Disputed, Livemode: true, Charge: "ch_1", Amount: 5, Currency: "eur"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := &Translator{Catalog: testCatalog(t), LineItems: tt.lineItems}
			got, err := tr.Translate(context.Background(), tt.payload)
			checkErr(t, err, tt.wantErr)
			if err != nil && !strings.Contains(err.Error(), "evt_1") {
				t.Errorf("error %q does not name the event", err)
			}
			want := tt.want
			want.EventID, want.Created = "evt_1", created
			var env struct{ Type string }
			if err := json.Unmarshal(tt.payload, &env); err != nil {
				t.Fatal(err)
			}
			want.EventType = env.Type
			matchIDs(&want, got)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("fact\n got  %+v\n want %+v", got, want)
			}
		})
	}
}

// TestTranslateMalformed: payloads vpnbill cannot read are ErrMalformed.
func TestTranslateMalformed(t *testing.T) {
	t.Parallel()
	created := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	event := func(typ string, obj any) []byte {
		b, err := json.Marshal(map[string]any{
			"id": "evt_bad", "object": "event", "type": typ, "created": created.Unix(), "api_version": stripetest.DefaultVersion,
			"data": map[string]any{"object": obj},
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	edit := func(o map[string]any, f func(map[string]any)) map[string]any { f(o); return o }
	noSubLine := stripetest.InvoiceObject(stripetest.Invoice{ID: "in_1", Subscription: "sub_1", Price: "price_std"})
	for _, l := range noSubLine["lines"].(map[string]any)["data"].([]any) {
		l.(map[string]any)["type"] = "invoiceitem"
	}

	tests := []struct {
		name    string
		payload []byte
	}{
		{name: "not JSON", payload: []byte("{")},
		{name: "envelope without id", payload: []byte(`{"type":"invoice.paid","created":1,"data":{"object":{}}}`)},
		{name: "no data", payload: []byte(`{"id":"evt_bad","type":"invoice.paid","created":1}`)},
		{name: "data not an object", payload: []byte(`{"id":"evt_bad","type":"invoice.paid","created":1,"data":"x"}`)},
		{name: "data.object an invoice id", payload: event(EventInvoicePaid, "in_1")},
		{name: "data.object a subscription id", payload: event(EventSubscriptionDeleted, "sub_1")},
		{name: "data.object a charge id", payload: event(EventChargeRefunded, "ch_1")},
		{name: "data.object a list", payload: event(EventChargeRefunded, []any{1, 2})},
		{name: "data.object null", payload: event(EventSubscriptionUpdated, nil)},
		{name: "checkout without id", payload: event(EventCheckoutCompleted, map[string]any{"object": "checkout.session", "mode": "payment"})},
		{
			name: "subscription checkout without subscription",
			payload: event(EventCheckoutCompleted, edit(stripetest.CheckoutSession(stripetest.Checkout{Subscription: "sub_1", Paid: true, Plan: "std-monthly"}),
				func(o map[string]any) { o["subscription"] = nil })),
		},
		{
			name: "checkout amount a string",
			payload: event(EventCheckoutCompleted, edit(stripetest.CheckoutSession(stripetest.Checkout{Paid: true, Plan: "std-monthly"}),
				func(o map[string]any) { o["amount_total"] = "999" })),
		},
		{name: "invoice without id", payload: event(EventInvoicePaid, edit(stripetest.InvoiceObject(stripetest.Invoice{Subscription: "sub_1"}), func(o map[string]any) { delete(o, "id") }))},
		{name: "paid invoice without a subscription line", payload: event(EventInvoicePaid, noSubLine)},
		{
			name: "invoice lines not a list",
			payload: event(EventInvoicePaid, edit(stripetest.InvoiceObject(stripetest.Invoice{Subscription: "sub_1"}),
				func(o map[string]any) { o["lines"] = "many" })),
		},
		{name: "subscription without id", payload: event(EventSubscriptionDeleted, map[string]any{"object": "subscription", "status": "canceled"})},
		{
			name: "subscription period a string",
			payload: event(EventSubscriptionUpdated, edit(stripetest.SubscriptionObject(stripetest.Subscription{Price: "price_std"}),
				func(o map[string]any) { o["current_period_end"] = "soon" })),
		},
		{name: "charge without id", payload: event(EventChargeRefunded, edit(stripetest.ChargeObject(stripetest.Charge{Amount: 1, AmountRefunded: 1}), func(o map[string]any) { o["id"] = "" }))},
		{name: "dispute without charge", payload: event(EventChargeDisputeCreated, edit(stripetest.DisputeObject(stripetest.Dispute{Amount: 1}), func(o map[string]any) { o["charge"] = nil }))},
		{name: "dispute amount a string", payload: event(EventChargeDisputeCreated, edit(stripetest.DisputeObject(stripetest.Dispute{Amount: 1}), func(o map[string]any) { o["amount"] = "-0" }))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := &Translator{Catalog: testCatalog(t), LineItems: sessionPrices{}}
			_, err := tr.Translate(context.Background(), tt.payload)
			checkErr(t, err, ErrMalformed)
		})
	}
}

// checkErr checks err is want (nil: no error) and, for a Translate error,
// of exactly one class, or of none for a retryable error.
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("Translate error = %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("Translate error = %v, want %v", err, want)
	}
	classes := 0
	for _, c := range []error{ErrMalformed, ErrUnknownPlan, ErrIgnored} {
		if errors.Is(err, c) {
			classes++
		}
	}
	if (errors.Is(want, errStripeDown) && classes != 0) || (!errors.Is(want, errStripeDown) && classes != 1) {
		t.Errorf("error %q is in %d classes", err, classes)
	}
}

// matchIDs copies into want the ids of got that want's "prefix*" patterns
// match, so made-up ids compare equal and others do not.
func matchIDs(want *Fact, got Fact) {
	for _, p := range []struct {
		w *string
		g string
	}{
		{&want.Invoice, got.Invoice}, {&want.PaymentIntent, got.PaymentIntent}, {&want.Charge, got.Charge},
		{&want.Customer, got.Customer}, {&want.CheckoutSession, got.CheckoutSession},
	} {
		if prefix, ok := strings.CutSuffix(*p.w, anyID); ok && len(p.g) > len(prefix) && strings.HasPrefix(p.g, prefix) {
			*p.w = p.g
		}
	}
}
