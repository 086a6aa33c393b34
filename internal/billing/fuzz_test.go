package billing

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
)

type builtEvent struct {
	typ     string
	payload []byte
}

// builderEvents returns one event of every handled type, from every
// stripetest builder, of API version v, created at at.
func builderEvents(at time.Time, v string) []builtEvent {
	start, end := at, at.AddDate(0, 1, 0)
	co := stripetest.Checkout{
		ID: "cs_f", Subscription: "sub_f", Customer: "cus_f", Email: "f@example.com", Name: "F",
		Plan: "std-monthly", Paid: true, Amount: 999, Currency: "eur", Created: at, Version: v,
	}
	once := co
	once.Subscription, once.Plan = "", "tunnel-90"
	inv := stripetest.Invoice{
		ID: "in_f", Subscription: "sub_f", Customer: "cus_f", Email: "f@example.com", Name: "F",
		BillingReason: "subscription_cycle", Price: "price_other", LookupKey: "std_monthly",
		PeriodStart: start, PeriodEnd: end, AmountPaid: 999, AmountDue: 999, Currency: "eur", Paid: true,
		Charge: "ch_f", PaymentIntent: "pi_f", HostedInvoiceURL: "https://invoice.stripe.com/i/f", Created: at, Version: v,
	}
	if r, err := readerFor(v); err == nil && r.basil {
		inv.Price = "price_std" // a basil line names its price by id only
	}
	sub := stripetest.Subscription{
		ID: "sub_f", Customer: "cus_f", Status: "past_due", Price: "price_tunnel", CancelAtPeriodEnd: true,
		CurrentPeriodStart: start, CurrentPeriodEnd: end, Created: at, Version: v,
	}
	cus := stripetest.Customer{ID: "cus_f", Email: "new@example.com", Name: "F New", Created: at, Version: v}
	trial := sub
	trial.Status, trial.CancelAtPeriodEnd, trial.TrialEnd = "trialing", false, at.AddDate(0, 0, 3)
	ch := stripetest.Charge{ID: "ch_f", Customer: "cus_f", Invoice: "in_f", PaymentIntent: "pi_f", Amount: 999, AmountRefunded: 999, Currency: "eur", Created: at, Version: v}
	dp := stripetest.Dispute{ID: "dp_f", Charge: "ch_f", PaymentIntent: "pi_f", Amount: 999, Currency: "eur", Created: at, Version: v}
	lost := dp
	lost.Status = "lost"
	re := stripetest.Refund{ID: "re_f", Charge: "ch_f", PaymentIntent: "pi_f", Customer: "cus_f", Amount: 999, Currency: "eur", Created: at, Status: "failed", Version: v}
	pay := stripetest.InvoicePayment{ID: "inpay_f", Invoice: "in_f", PaymentIntent: "pi_f", Amount: 999, Currency: "eur", Created: at, Version: v}
	return []builtEvent{
		{EventCheckoutCompleted, stripetest.CheckoutCompleted("evt_f1", at, co)},
		{EventCheckoutCompleted, stripetest.CheckoutCompleted("evt_f2", at, once)},
		{EventCheckoutAsyncSucceeded, stripetest.CheckoutAsyncSucceeded("evt_f3", at, once)},
		{EventCheckoutAsyncFailed, stripetest.CheckoutAsyncFailed("evt_f4", at, co)},
		{EventInvoicePaid, stripetest.InvoicePaid("evt_f5", at, inv)},
		{EventInvoicePaymentFailed, stripetest.InvoicePaymentFailed("evt_f6", at, inv)},
		{EventSubscriptionUpdated, stripetest.SubscriptionUpdated("evt_f7", at, sub)},
		{EventSubscriptionDeleted, stripetest.SubscriptionDeleted("evt_f8", at, sub)},
		{EventChargeRefunded, stripetest.ChargeRefunded("evt_f9", at, ch)},
		{EventChargeDisputeCreated, stripetest.DisputeCreated("evt_f10", at, dp)},
		{EventInvoicePaymentPaid, stripetest.InvoicePaymentPaid("evt_f11", at, pay)},
		{EventInvoicePaymentActionRequired, stripetest.InvoicePaymentActionRequired("evt_f12", at, inv)},
		{EventSubscriptionTrialWillEnd, stripetest.SubscriptionTrialWillEnd("evt_f13", at, trial)},
		{EventCustomerUpdated, stripetest.CustomerUpdated("evt_f14", at, cus)},
		{EventCustomerDeleted, stripetest.CustomerDeleted("evt_f15", at, cus)},
		{EventDisputeClosed, stripetest.DisputeClosed("evt_f16", at, lost)},
		{EventDisputeFundsReinstated, stripetest.DisputeFundsReinstated("evt_f17", at, dp)},
		{EventChargeRefundUpdated, stripetest.ChargeRefundUpdated("evt_f18", at, re)},
	}
}

func addSeeds(f *testing.F) {
	for _, v := range stripetest.Versions {
		for _, e := range builderEvents(time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC), v) {
			f.Add(e.payload)
		}
	}
	f.Add([]byte(`{"id":"evt_1","type":"invoice.paid","created":1,"api_version":"2023-10-16","data":{"object":{"id":"in_1","subscription":{"id":"sub_1"},"lines":{"data":[null,{"type":"subscription","period":{"start":-1,"end":9223372036854775807},"price":"std_monthly"}]}}}}`))
	f.Add([]byte(`{"id":"evt_1","type":"invoice.paid","created":1,"api_version":"2025-07-30.basil","data":{"object":{"id":"in_1","billing_reason":"subscription_cycle","parent":{"type":"subscription_details","subscription_details":{"subscription":"sub_1"}},"lines":{"data":[null,{"parent":{"type":"subscription_item_details"},"period":{"start":-1,"end":9223372036854775807},"pricing":{"price_details":{"price":{"id":"price_x","lookup_key":"std_monthly"}}}}]}}}}`))
	f.Add([]byte(`{"id":"evt_1","type":"invoice.payment_failed","created":1,"api_version":"2026-03-25.dahlia","data":{"object":{"id":"in_1","parent":{"type":"subscription_details","subscription_details":null}}}}`))
	f.Add([]byte(`{"id":"evt_1","type":"customer.subscription.updated","created":1,"api_version":"2023-10-16","data":{"object":{"id":"sub_1","items":{"data":[{"price":{"id":"price_tunnel"}}]}}}}`))
	f.Add([]byte(`{"id":"evt_1","type":"customer.subscription.updated","created":1,"api_version":"2025-09-30.clover","data":{"object":{"id":"sub_1","cancel_at_period_end":true,"items":{"data":[{"price":"price_tunnel","current_period_end":-5}]}}}}`))
	f.Add([]byte(`{"id":"evt_1","type":"checkout.session.completed","created":9223372036854775807,"api_version":"2024-09-30.acacia","data":{"object":{"id":"cs_1","mode":"payment","payment_status":"paid","metadata":{"plan":"hbw-yearly"}}}}`))
	f.Add([]byte(`{"id":"evt_1","type":"charge.dispute.created","created":1,"api_version":"2023-10-16","data":{"object":{"charge":{"id":"ch_1"}}}}`))
	f.Add([]byte(`{"id":"evt_1","type":"charge.refunded","created":1,"api_version":"2025-03-31.basil","data":{"object":{"id":"ch_1","refunded":true,"invoice":"in_1"}}}`))
	f.Add([]byte(`{"id":"evt_1","type":"charge.refund.updated","created":1,"api_version":"2026-03-25.dahlia","data":{"object":{"id":"re_1","status":"canceled","amount":-5,"charge":{"id":"ch_1"},"payment_intent":null}}}`))
	f.Add([]byte(`{"id":"evt_1","type":"invoice_payment.paid","created":1,"api_version":"2025-03-31.basil","data":{"object":{"id":"inpay_1","invoice":{"id":"in_1"},"payment":{"type":"charge","charge":{"id":"ch_1"}}}}}`))
	f.Add([]byte(`{"id":"evt_1","type":"invoice.paid","created":1,"api_version":"2019-01-01","data":{"object":{"id":"in_1"}}}`))
	f.Add([]byte(`{"id":"evt_1","type":"invoice.paid","created":1,"api_version":"2027-03-31.e","data":{"object":{"id":"in_1"}}}`))
	f.Add([]byte(`{"id":"evt_1","type":"x","created":1,"data":{"object":null}}`))
	f.Add([]byte(`null`))
	f.Add([]byte{})
}

func FuzzParseEnvelope(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, payload []byte) {
		env, err := ParseEnvelope(payload)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		// What the webhook relies on: an event id to deduplicate by, a type
		// that fits a NATS subject (no spaces, no wildcards),
		// a creation time to order facts by.
		if !strings.HasPrefix(env.ID, "evt_") || strings.ContainsAny(env.ID, " \t\r\n") || len(env.ID) > 255 ||
			env.Type == "" || strings.ContainsAny(env.Type, " \t\r\n*>") || len(env.Type) > 100 ||
			env.Created <= 0 || env.CreatedTime().Unix() != env.Created {
			t.Fatalf("accepted envelope %+v", env)
		}
	})
}

func FuzzTranslate(f *testing.F) {
	addSeeds(f)
	catalog, err := ParseCatalog([]byte(testPlans))
	if err != nil {
		f.Fatal(err)
	}
	lineItems := sessionPrices{"cs_f": {{"price_std"}}, "cs_1": {{"price_std"}, {"price_tunnel"}}}
	f.Fuzz(func(t *testing.T, payload []byte) {
		tr := &Translator{Catalog: catalog, LineItems: lineItems}
		fact, err := tr.Translate(context.Background(), payload)
		if err != nil {
			classes := 0
			for _, c := range []error{ErrMalformed, ErrUnknownPlan, ErrIgnored} {
				if errors.Is(err, c) {
					classes++
				}
			}
			// sessionPrices' "no such session" is the one unclassed error.
			if classes > 1 {
				t.Fatalf("error %q is in %d classes", err, classes)
			}
			return
		}
		// A fact is something the worker acts on: it names its kind, its
		// event and what it is about, and comes of a version vpnbill reads.
		if fact.Kind == "" || fact.EventID == "" || !Handled(fact.EventType) {
			t.Fatalf("fact without kind or event: %+v", fact)
		}
		if env, _ := ParseEnvelope(payload); !ReadsVersion(env.APIVersion) {
			t.Fatalf("fact of api_version %q, which vpnbill does not read: %+v", env.APIVersion, fact)
		}
		switch fact.Kind {
		case Purchase, Renewal, SubscriptionState:
			if fact.Key == "" || fact.Plan.ID == "" {
				t.Fatalf("%s fact without key or plan: %+v", fact.Kind, fact)
			}
		case Refunded, Disputed, DisputeClosed:
			if fact.Charge == "" {
				t.Fatalf("%s fact without charge: %+v", fact.Kind, fact)
			}
		case RefundReverted:
			// It gives back an amount of one refund of a payment it names.
			if fact.Key != "" || fact.Refund == "" || fact.Amount <= 0 || (fact.Charge == "" && fact.PaymentIntent == "") {
				t.Fatalf("%s fact without refund, amount or payment: %+v", fact.Kind, fact)
			}
		case PaymentLinked:
			// It links a payment to an invoice: both must be named.
			if fact.Key != "" || fact.Invoice == "" || (fact.Charge == "" && fact.PaymentIntent == "") {
				t.Fatalf("%s fact without invoice or payment: %+v", fact.Kind, fact)
			}
		case CustomerChanged, CustomerDeleted:
			// Every account of the customer: found by the customer id.
			if fact.Key != "" || fact.Customer == "" {
				t.Fatalf("%s fact without customer: %+v", fact.Kind, fact)
			}
		default:
			if fact.Key == "" {
				t.Fatalf("%s fact without key: %+v", fact.Kind, fact)
			}
		}
	})
}
