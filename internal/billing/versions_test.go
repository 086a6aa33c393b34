package billing

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
)

// isBasil reports whether version v has basil's shape, by the reader.
func isBasil(t *testing.T, v string) bool {
	t.Helper()
	r, err := readerFor(v)
	if err != nil {
		t.Fatal(err)
	}
	return r.basil
}

// TestTranslateVersions: every handled event type, in every version
// family, translates to the same fact, except what the version no longer
// says (from basil on an invoice names no payment and a charge no invoice).
func TestTranslateVersions(t *testing.T) {
	t.Parallel()
	created := time.Date(2025, 10, 1, 12, 0, 0, 0, time.UTC)
	start, end := created, created.AddDate(0, 1, 0)
	std, hbw, tunnel := plan(t, "std-monthly"), plan(t, "hbw-yearly"), plan(t, "tunnel-90")
	for _, v := range stripetest.Versions {
		basil := isBasil(t, v)
		// onlyBefore is id up to acacia, "" from basil on.
		onlyBefore := func(id string) string {
			if basil {
				return ""
			}
			return id
		}
		// onlyFrom is id in version first and later ones, "" before.
		onlyFrom := func(first, id string) string {
			if v < first {
				return ""
			}
			return id
		}
		sub := stripetest.Checkout{
			ID: "cs_sub", Subscription: "sub_1", Customer: "cus_ada", Email: "ada@example.com", Name: "Ada Lovelace",
			Plan: "std-monthly", Paid: true, Amount: 999, Currency: "eur", Version: v,
		}
		once := stripetest.Checkout{
			ID: "cs_once", Customer: "cus_ada", Email: "ada@example.com", Plan: "hbw-yearly", Paid: true, Amount: 4999, Currency: "usd", Version: v,
		}
		inv := stripetest.Invoice{
			ID: "in_1", Subscription: "sub_1", Customer: "cus_ada", Email: "ada@example.com", Name: "Ada Lovelace",
			BillingReason: "subscription_create", Price: "price_std", PeriodStart: start, PeriodEnd: end,
			AmountDue: 999, Currency: "eur", Charge: "ch_1", PaymentIntent: "pi_1",
			HostedInvoiceURL: "https://invoice.stripe.com/i/acct_1/test_1", Version: v,
		}
		cycle := inv
		cycle.ID, cycle.BillingReason, cycle.PeriodStart, cycle.PeriodEnd = "in_2", "subscription_cycle", end, end.AddDate(0, 1, 0)
		failed := cycle
		failed.ID, failed.AmountDue, failed.Charge = "in_3", 1299, "ch_3"
		invFact := Fact{
			Key: "sub_1", Subscription: "sub_1", Invoice: "in_1", Customer: "cus_ada", Email: "ada@example.com",
			CustomerName: "Ada Lovelace", Charge: onlyBefore("ch_1"), PaymentIntent: onlyBefore("pi_1"),
			InvoiceURL: "https://invoice.stripe.com/i/acct_1/test_1", Amount: 999, Currency: "eur", PeriodStart: start, PeriodEnd: end,
		}
		state := stripetest.Subscription{
			ID: "sub_1", Customer: "cus_ada", Status: "past_due", Price: "price_tunnel", CancelAtPeriodEnd: true,
			CurrentPeriodStart: start, CurrentPeriodEnd: end, Version: v,
		}
		deleted := stripetest.Subscription{ID: "sub_1", Customer: "cus_ada", Price: "price_gold", CurrentPeriodStart: start, CurrentPeriodEnd: end, Version: v}

		tests := []struct {
			name    string
			payload []byte
			want    Fact // EventID, EventType and Created are added
		}{
			{
				name:    "checkout.session.completed subscription",
				payload: stripetest.CheckoutCompleted("evt_1", created, sub),
				want: Fact{
					Kind: Purchase, Key: "sub_1", Subscription: "sub_1", CheckoutSession: "cs_sub", Invoice: "in_" + anyID,
					Customer: "cus_ada", Email: "ada@example.com", CustomerName: "Ada Lovelace", Plan: std, Amount: 999, Currency: "eur",
				},
			},
			{
				name:    "checkout.session.completed one-off",
				payload: stripetest.CheckoutCompleted("evt_1", created, once),
				want: Fact{
					Kind: Purchase, Key: "cs_once", OneOff: true, CheckoutSession: "cs_once", PaymentIntent: "pi_" + anyID,
					Customer: "cus_ada", Email: "ada@example.com", Plan: hbw, Amount: 4999, Currency: "usd",
					PeriodStart: created, PeriodEnd: created.AddDate(0, 0, 365),
				},
			},
			{
				name:    "checkout.session.async_payment_succeeded",
				payload: stripetest.CheckoutAsyncSucceeded("evt_1", created, once),
				want: Fact{
					Kind: Purchase, Key: "cs_once", OneOff: true, CheckoutSession: "cs_once", PaymentIntent: "pi_" + anyID,
					Customer: "cus_ada", Email: "ada@example.com", Plan: hbw, Amount: 4999, Currency: "usd",
					PeriodStart: created, PeriodEnd: created.AddDate(0, 0, 365),
				},
			},
			{
				name:    "checkout.session.async_payment_failed",
				payload: stripetest.CheckoutAsyncFailed("evt_1", created, sub),
				want: Fact{
					Kind: PurchaseFailed, Key: "sub_1", Subscription: "sub_1", CheckoutSession: "cs_sub", Invoice: "in_" + anyID,
					Customer: "cus_ada", Email: "ada@example.com", CustomerName: "Ada Lovelace", Amount: 999, Currency: "eur",
				},
			},
			{
				name:    "invoice.paid subscription_create",
				payload: stripetest.InvoicePaid("evt_1", created, inv),
				want:    editFact(invFact, func(f *Fact) { f.Kind, f.Plan, f.Items = Purchase, std, []Item{{Plan: std, Seats: 1}} }),
			},
			{
				name:    "invoice.paid subscription_cycle: the line's period",
				payload: stripetest.InvoicePaid("evt_1", created, cycle),
				want: editFact(invFact, func(f *Fact) {
					f.Kind, f.Plan, f.Invoice = Renewal, std, "in_2"
					f.Items = []Item{{Plan: std, Seats: 1}}
					f.PeriodStart, f.PeriodEnd = end, end.AddDate(0, 1, 0)
				}),
			},
			{
				name:    "invoice.payment_failed",
				payload: stripetest.InvoicePaymentFailed("evt_1", created, failed),
				want: editFact(invFact, func(f *Fact) {
					f.Kind, f.Invoice, f.Amount, f.Charge = PaymentFailed, "in_3", 1299, onlyBefore("ch_3")
					f.PeriodStart, f.PeriodEnd = end, end.AddDate(0, 1, 0)
				}),
			},
			{
				name:    "customer.subscription.updated past_due, canceling at period end",
				payload: stripetest.SubscriptionUpdated("evt_1", created, state),
				want: Fact{
					Kind: SubscriptionState, Key: "sub_1", Subscription: "sub_1", Customer: "cus_ada", Plan: tunnel,
					Items: []Item{{Plan: tunnel, Seats: 1}}, SubStatus: "past_due", CancelAtPeriodEnd: true, CurrentPeriodEnd: end,
				},
			},
			{
				name:    "customer.subscription.deleted",
				payload: stripetest.SubscriptionDeleted("evt_1", created, deleted),
				want: Fact{
					Kind: Canceled, Key: "sub_1", Subscription: "sub_1", Customer: "cus_ada", SubStatus: "canceled", CurrentPeriodEnd: end,
				},
			},
			{
				name: "charge.refunded in full",
				payload: stripetest.ChargeRefunded("evt_1", created, stripetest.Charge{
					ID: "ch_1", Customer: "cus_ada", Invoice: "in_1", PaymentIntent: "pi_1", Amount: 999, AmountRefunded: 999, Currency: "eur", Version: v,
				}),
				want: Fact{Kind: Refunded, FullRefund: true, Charge: "ch_1", Customer: "cus_ada", Invoice: onlyBefore("in_1"), PaymentIntent: "pi_1", Amount: 999, Currency: "eur"},
			},
			{
				name: "charge.refund.updated failed",
				payload: stripetest.ChargeRefundUpdated("evt_1", created, stripetest.Refund{
					ID: "re_1", Charge: "ch_1", PaymentIntent: "pi_1", Customer: "cus_ada", Amount: 999, Currency: "eur",
					Created: created.Add(-time.Hour), Status: "failed", Version: v,
				}),
				want: Fact{Kind: RefundReverted, Refund: "re_1", RefundCreated: created.Add(-time.Hour), Charge: "ch_1", PaymentIntent: "pi_1",
					Customer: onlyFrom(dahliaDate, "cus_ada"), Amount: 999, Currency: "eur"},
			},
			{
				name: "charge.dispute.created",
				payload: stripetest.DisputeCreated("evt_1", created, stripetest.Dispute{
					ID: "dp_1", Charge: "ch_1", PaymentIntent: "pi_1", Amount: 999, Currency: "eur", Version: v,
				}),
				want: Fact{Kind: Disputed, Charge: "ch_1", PaymentIntent: "pi_1", Amount: 999, Currency: "eur"},
			},
			{
				name: "invoice_payment.paid by a payment intent",
				payload: stripetest.InvoicePaymentPaid("evt_1", created, stripetest.InvoicePayment{
					ID: "inpay_1", Invoice: "in_1", PaymentIntent: "pi_1", Amount: 999, Currency: "eur", Version: v,
				}),
				want: Fact{Kind: PaymentLinked, Invoice: "in_1", PaymentIntent: "pi_1", Amount: 999, Currency: "eur"},
			},
			{
				name: "invoice_payment.paid by a charge",
				payload: stripetest.InvoicePaymentPaid("evt_1", created, stripetest.InvoicePayment{
					ID: "inpay_1", Invoice: "in_1", Charge: "ch_1", Amount: 999, Currency: "eur", Version: v,
				}),
				want: Fact{Kind: PaymentLinked, Invoice: "in_1", Charge: "ch_1", Amount: 999, Currency: "eur"},
			},
		}
		for _, tt := range tests {
			t.Run(v+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				tr := &Translator{Catalog: testCatalog(t)}
				got, err := tr.Translate(context.Background(), tt.payload)
				if err != nil {
					t.Fatalf("Translate: %v", err)
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
}

// editFact returns f changed by g.
func editFact(f Fact, g func(*Fact)) Fact { g(&f); return f }

func TestReadsVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		version string
		want    bool
		basil   bool
	}{
		{"2023-10-16", true, false},
		{"2024-04-10", true, false},
		{"2024-06-20", true, false},
		{"2024-09-30.acacia", true, false},
		{"2025-02-24.acacia", true, false},
		{"2025-03-31.basil", true, true},
		{"2025-08-27.basil", true, true},
		{"2025-09-30.clover", true, true},
		{"2026-02-25.clover", true, true},
		{"2026-03-25.dahlia", true, true},
		{"2026-07-29.dahlia", true, true},
		{"2027-01-27.dahlia", true, true}, // a monthly dahlia version newer than vpnbill: only additions

		{"", false, false},
		{"2019-01-01", false, false},
		{"2023-08-16", false, false},       // older than vpnbill reads
		{"2024-10-28", false, false},       // every version since acacia names its family
		{"2024-06-20.basil", false, false}, // before its family began
		{"2026-09-30.elm", false, false},   // the family after dahlia: breaking by definition
		{"2025-04-30.preview", false, false},
		{"2025-02-30.acacia", false, false},
		{"2025-7-30.basil", false, false},
		{"latest", false, false},
	}
	for _, tt := range tests {
		if got := ReadsVersion(tt.version); got != tt.want {
			t.Errorf("ReadsVersion(%q) = %v, want %v", tt.version, got, tt.want)
		}
		if r, err := readerFor(tt.version); err == nil && r.basil != tt.basil {
			t.Errorf("%s read with basil's shape %v, want %v", tt.version, r.basil, tt.basil)
		} else if err != nil && (!errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "api_version")) {
			t.Errorf("readerFor(%q) error %v: want ErrMalformed naming api_version", tt.version, err)
		}
	}
	for _, v := range append(append([]string{}, ReadableVersions...), stripetest.Versions...) {
		if !ReadsVersion(v) {
			t.Errorf("listed version %s is not read", v)
		}
	}
}

// TestTranslateUnreadable: an event vpnbill cannot read is ErrMalformed —
// a dead letter, never a skip — with a reason naming the api_version and
// the field that is missing.
func TestTranslateUnreadable(t *testing.T) {
	t.Parallel()
	created := time.Date(2025, 10, 1, 12, 0, 0, 0, time.UTC)
	const basil = "2025-07-30.basil"
	paid := func(v string, edit func(o map[string]any)) []byte {
		o := stripetest.InvoiceObject(stripetest.Invoice{
			ID: "in_1", Subscription: "sub_1", BillingReason: "subscription_cycle", Price: "price_std", AmountDue: 999, AmountPaid: 999,
			Paid: true, Created: created, Version: v,
		})
		if edit != nil {
			edit(o)
		}
		return stripetest.VersionedEvent(v, "evt_1", EventInvoicePaid, created, o)
	}
	parent := func(o map[string]any) map[string]any { return o["parent"].(map[string]any) }
	line := func(o map[string]any) map[string]any {
		return o["lines"].(map[string]any)["data"].([]any)[0].(map[string]any)
	}
	tests := []struct {
		name    string
		payload []byte
		want    []string // in the error, besides the event id
	}{
		{
			name:    "a version older than vpnbill reads",
			payload: stripetest.InvoicePaid("evt_1", created, stripetest.Invoice{Subscription: "sub_1", Price: "price_std", Version: "2019-01-01"}),
			want:    []string{`api_version "2019-01-01"`, "older than vpnbill reads"},
		},
		{
			name:    "the family after dahlia",
			payload: stripetest.InvoicePaid("evt_1", created, stripetest.Invoice{Subscription: "sub_1", Price: "price_std", Version: "2026-09-30.elm"}),
			want:    []string{`api_version "2026-09-30.elm"`, "family vpnbill does not know"},
		},
		{
			name:    "an unnamed version after acacia",
			payload: stripetest.ChargeRefunded("evt_1", created, stripetest.Charge{Amount: 5, AmountRefunded: 5, Version: "2027-01-01"}),
			want:    []string{`api_version "2027-01-01"`},
		},
		{
			name:    "no api_version",
			payload: withEnvelope(t, stripetest.DisputeCreated("evt_1", created, stripetest.Dispute{Amount: 5}), "api_version", nil),
			want:    []string{"api_version", "missing"},
		},
		{
			name: "basil invoice of a subscription without its id",
			payload: paid(basil, func(o map[string]any) {
				parent(o)["subscription_details"].(map[string]any)["subscription"] = nil
			}),
			want: []string{"invoice in_1 (api_version 2025-07-30.basil): no parent.subscription_details.subscription"},
		},
		{
			name: "basil subscription invoice without a parent",
			payload: paid("2026-07-29.dahlia", func(o map[string]any) {
				o["parent"] = nil
				o["subscription"] = "sub_1" // not where dahlia keeps it: not read
			}),
			want: []string{"invoice in_1 (api_version 2026-07-29.dahlia): billing_reason subscription_cycle but no parent"},
		},
		{
			name:    "2023-10-16 subscription invoice without subscription (basil's shape is not read)",
			payload: withEnvelope(t, paid(basil, nil), "api_version", "2023-10-16"),
			want:    []string{"invoice in_1 (api_version 2023-10-16): billing_reason subscription_cycle but no subscription"},
		},
		{
			name:    "basil invoice of an unknown parent type",
			payload: paid("2025-12-15.clover", func(o map[string]any) { parent(o)["type"] = "billing_cadence_details" }),
			want:    []string{"invoice in_1 (api_version 2025-12-15.clover)", `parent.type "billing_cadence_details"`},
		},
		{
			name:    "basil paid invoice line without price",
			payload: paid(basil, func(o map[string]any) { line(o)["pricing"] = map[string]any{"type": "price_details"} }),
			want:    []string{"paid invoice in_1 (api_version 2025-07-30.basil): no lines.data[0].pricing.price_details.price"},
		},
		{
			name:    "basil paid invoice without a subscription item line",
			payload: paid(basil, func(o map[string]any) { line(o)["parent"] = nil }),
			want:    []string{"(api_version 2025-07-30.basil): no line with parent.type subscription_item_details and a period"},
		},
		{
			name:    "acacia paid invoice line without price",
			payload: paid("2024-12-18.acacia", func(o map[string]any) { line(o)["price"] = nil }),
			want:    []string{"paid invoice in_1 (api_version 2024-12-18.acacia): no lines.data[0].price"},
		},
		{
			name: "basil subscription canceling at period end without its period",
			payload: func() []byte {
				o := stripetest.SubscriptionObject(stripetest.Subscription{ID: "sub_1", Price: "price_std", CancelAtPeriodEnd: true, Version: basil})
				for _, it := range o["items"].(map[string]any)["data"].([]any) {
					delete(it.(map[string]any), "current_period_end")
				}
				o["current_period_end"] = created.Unix() // not where basil keeps it: not read
				return stripetest.VersionedEvent(basil, "evt_1", EventSubscriptionUpdated, created, o)
			}(),
			want: []string{"subscription sub_1 (api_version 2025-07-30.basil): cancel_at_period_end but no items.data[].current_period_end"},
		},
		{
			name: "invoice payment without invoice",
			payload: func() []byte {
				o := stripetest.InvoicePaymentObject(stripetest.InvoicePayment{ID: "inpay_1", Version: basil})
				o["invoice"] = nil
				return stripetest.VersionedEvent(basil, "evt_1", EventInvoicePaymentPaid, created, o)
			}(),
			want: []string{"invoice payment inpay_1 (api_version 2025-07-30.basil): no invoice"},
		},
		{
			name: "invoice payment by a payment intent without its id",
			payload: func() []byte {
				o := stripetest.InvoicePaymentObject(stripetest.InvoicePayment{ID: "inpay_1", Invoice: "in_1", Version: "2026-07-29.dahlia"})
				o["payment"] = map[string]any{"type": "payment_intent"}
				return stripetest.VersionedEvent("2026-07-29.dahlia", "evt_1", EventInvoicePaymentPaid, created, o)
			}(),
			want: []string{"(api_version 2026-07-29.dahlia): payment.type payment_intent but no payment.payment_intent"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := &Translator{Catalog: testCatalog(t)}
			_, err := tr.Translate(context.Background(), tt.payload)
			checkErr(t, err, ErrMalformed)
			for _, w := range append(tt.want, "evt_1") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestTranslateBasilShapes: what basil's shape says beyond the happy path.
func TestTranslateBasilShapes(t *testing.T) {
	t.Parallel()
	created := time.Date(2025, 10, 1, 12, 0, 0, 0, time.UTC)
	start, end := created, created.AddDate(0, 1, 0)
	std := plan(t, "std-monthly")
	const v = "2025-07-30.basil"
	invoice := func(i stripetest.Invoice, edit func(o map[string]any)) []byte {
		i.Version, i.Created, i.Paid, i.AmountPaid = v, created, true, i.AmountDue
		o := stripetest.InvoiceObject(i)
		if edit != nil {
			edit(o)
		}
		return stripetest.VersionedEvent(v, "evt_1", EventInvoicePaid, created, o)
	}
	line := func(o map[string]any) map[string]any {
		return o["lines"].(map[string]any)["data"].([]any)[0].(map[string]any)
	}
	sub := stripetest.Invoice{
		ID: "in_1", Subscription: "sub_1", Customer: "cus_ada", BillingReason: "subscription_cycle", Price: "price_std",
		PeriodStart: start, PeriodEnd: end, AmountDue: 999,
	}
	renewal := Fact{
		Kind: Renewal, Key: "sub_1", Subscription: "sub_1", Invoice: "in_1", Customer: "cus_ada", Plan: std,
		Items: []Item{{Plan: std, Seats: 1}}, Amount: 999, Currency: "eur", PeriodStart: start, PeriodEnd: end,
	}

	tests := []struct {
		name      string
		payload   []byte
		lineItems LineItems
		want      Fact
		wantErr   error
		errSays   string
	}{
		{
			name: "the line's price expanded, found by its lookup key",
			payload: invoice(sub, func(o map[string]any) {
				line(o)["pricing"].(map[string]any)["price_details"].(map[string]any)["price"] = map[string]any{
					"id": "price_new", "object": "price", "lookup_key": "std_monthly",
				}
			}),
			want: renewal,
		},
		{
			name:    "the line's price by id only, not in the catalog, no Stripe API to read its lookup key",
			payload: invoice(editInvoice(sub, func(i *stripetest.Invoice) { i.Price, i.LookupKey = "price_new", "std_monthly" }), nil),
			want:    editFact(renewal, func(f *Fact) { f.Kind, f.Plan, f.Items = "", Plan{}, nil }),
			wantErr: ErrUnknownPlan,
			errSays: "api_version 2025-07-30.basil names an invoice line's price by id only",
		},
		{
			name:      "the line's price by id only, the Stripe API down: retried",
			payload:   invoice(editInvoice(sub, func(i *stripetest.Invoice) { i.Price = "price_new" }), nil),
			lineItems: failingLineItems{},
			want:      editFact(renewal, func(f *Fact) { f.Kind, f.Plan, f.Items = "", Plan{}, nil }),
			wantErr:   errStripeDown,
		},
		{
			name: "a quote's invoice buys no subscription",
			payload: invoice(sub, func(o map[string]any) {
				o["billing_reason"] = "quote_accept"
				o["parent"] = map[string]any{"type": "quote_details", "quote_details": map[string]any{"quote": "qt_1"}, "subscription_details": nil}
			}),
			want:    Fact{Invoice: "in_1"},
			wantErr: ErrIgnored,
			errSays: "quote_details",
		},
		{
			name:    "a one-off invoice (parent null) buys no subscription",
			payload: invoice(stripetest.Invoice{ID: "in_1", BillingReason: "manual", Price: "price_std", AmountDue: 999}, nil),
			want:    Fact{Invoice: "in_1"},
			wantErr: ErrIgnored,
			errSays: "belongs to no subscription",
		},
		{
			name: "a 2023-10-16 field left in a basil invoice is not read",
			payload: invoice(sub, func(o map[string]any) {
				o["charge"], o["payment_intent"] = "ch_stale", "pi_stale"
			}),
			want: renewal,
		},
		{
			name: "invoice_payment.paid out of band: nothing to link",
			payload: func() []byte {
				o := stripetest.InvoicePaymentObject(stripetest.InvoicePayment{ID: "inpay_1", Invoice: "in_1", Amount: 999, Version: v})
				o["payment"] = map[string]any{"type": "payment_record", "payment_record": "pr_1"}
				return stripetest.VersionedEvent(v, "evt_1", EventInvoicePaymentPaid, created, o)
			}(),
			want:    Fact{Invoice: "in_1", Amount: 999, Currency: "eur"},
			wantErr: ErrIgnored,
		},
		{
			name: "invoice_payment.paid with expanded invoice and payment intent",
			payload: func() []byte {
				o := stripetest.InvoicePaymentObject(stripetest.InvoicePayment{ID: "inpay_1", Amount: 999, Version: v})
				o["invoice"] = map[string]any{"id": "in_1", "object": "invoice"}
				o["payment"] = map[string]any{"type": "payment_intent", "payment_intent": map[string]any{"id": "pi_1", "object": "payment_intent"},
					"charge": map[string]any{"id": "ch_1", "object": "charge"}}
				return stripetest.VersionedEvent(v, "evt_1", EventInvoicePaymentPaid, created, o)
			}(),
			want: Fact{Kind: PaymentLinked, Invoice: "in_1", PaymentIntent: "pi_1", Charge: "ch_1", Amount: 999, Currency: "eur"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := &Translator{Catalog: testCatalog(t), LineItems: tt.lineItems}
			got, err := tr.Translate(context.Background(), tt.payload)
			checkErr(t, err, tt.wantErr)
			if tt.errSays != "" && !strings.Contains(err.Error(), tt.errSays) {
				t.Errorf("error %q does not say %q", err, tt.errSays)
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

// editInvoice returns i changed by f.
func editInvoice(i stripetest.Invoice, f func(*stripetest.Invoice)) stripetest.Invoice {
	f(&i)
	return i
}
