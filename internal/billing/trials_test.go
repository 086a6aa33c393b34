package billing

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
)

// trialPlans has a plan that provisions a trial (the default) and one that
// waits for the first payment.
const trialPlans = `plans:
  - id: std-monthly
    stripe_prices: [price_std]
    provider: purevpn
  - id: wait-monthly
    stripe_prices: [price_wait]
    provider: purevpn
    trial: wait
`

func TestTrialsAndFreeOrders(t *testing.T) {
	t.Parallel()
	cat, err := ParseCatalog([]byte(trialPlans))
	if err != nil {
		t.Fatal(err)
	}
	tr := &Translator{Catalog: cat}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, v := range stripetest.Versions {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			translate := func(payload []byte) (Fact, error) { return tr.Translate(context.Background(), payload) }

			// A trial checkout of a plan that provisions trials: a purchase of 0.
			f, err := translate(stripetest.CheckoutCompleted("evt_t1", at, stripetest.Checkout{
				Subscription: "sub_t", Email: "t@example.com", Plan: "std-monthly", Free: true, Version: v}))
			if err != nil || f.Kind != Purchase || f.Key != "sub_t" || f.Amount != 0 || f.Plan.ID != "std-monthly" {
				t.Errorf("trial checkout: %+v, %v; want a purchase of 0 of sub_t", f, err)
			}
			// The same for a plan that waits for the first payment: nothing yet.
			if f, err := translate(stripetest.CheckoutCompleted("evt_t2", at, stripetest.Checkout{
				Subscription: "sub_w", Plan: "wait-monthly", Free: true, Version: v})); !errors.Is(err, ErrIgnored) || f.Key != "sub_w" {
				t.Errorf("trial checkout of a waiting plan: %+v, %v; want ignored", f, err)
			}
			// A free one-off order (a 100% coupon): provisioned for the plan's term.
			f, err = translate(stripetest.CheckoutCompleted("evt_t3", at, stripetest.Checkout{
				ID: "cs_free", Plan: "std-monthly", Free: true, Version: v}))
			if err != nil || f.Kind != Purchase || !f.OneOff || f.Key != "cs_free" || f.Amount != 0 || !f.PeriodEnd.Equal(at.AddDate(0, 0, 30)) {
				t.Errorf("free one-off: %+v, %v; want a one-off purchase of 0 for 30 days", f, err)
			}
			// The trial's invoice of 0: the purchase, with the trial as its period.
			inv := stripetest.Invoice{ID: "in_t", Subscription: "sub_t", Price: "price_std", BillingReason: "subscription_create",
				PeriodStart: at, PeriodEnd: at.AddDate(0, 0, 14), AmountPaid: 0, Paid: true, Version: v}
			f, err = translate(stripetest.InvoicePaid("evt_t4", at, inv))
			if err != nil || f.Kind != Purchase || f.Amount != 0 || !f.PeriodEnd.Equal(at.AddDate(0, 0, 14)) {
				t.Errorf("trial invoice: %+v, %v; want a purchase of 0 to the trial's end", f, err)
			}
			inv.Subscription, inv.Price = "sub_w", "price_wait"
			if _, err := translate(stripetest.InvoicePaid("evt_t5", at, inv)); !errors.Is(err, ErrIgnored) {
				t.Errorf("trial invoice of a waiting plan: %v; want ignored", err)
			}
			// Its first paid invoice, at the trial's end, provisions it.
			inv.BillingReason, inv.AmountPaid, inv.PeriodStart, inv.PeriodEnd = "subscription_cycle", 999, at.AddDate(0, 0, 14), at.AddDate(0, 1, 14)
			if f, err := translate(stripetest.InvoicePaid("evt_t6", at, inv)); err != nil || f.Kind != Renewal || f.Amount != 999 {
				t.Errorf("first paid invoice of a waiting plan: %+v, %v; want a payment", f, err)
			}

			// Stripe's notice before the trial ends.
			f, err = translate(stripetest.SubscriptionTrialWillEnd("evt_t7", at, stripetest.Subscription{
				ID: "sub_t", Price: "price_std", TrialEnd: at.AddDate(0, 0, 3), Version: v}))
			if err != nil || f.Kind != TrialEnding || f.Key != "sub_t" || !f.TrialEnd.Equal(at.AddDate(0, 0, 3)) {
				t.Errorf("trial_will_end: %+v, %v", f, err)
			}
			if _, err := translate(stripetest.SubscriptionTrialWillEnd("evt_t8", at, stripetest.Subscription{
				ID: "sub_t", Price: "price_std", Version: v})); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "trial_end") {
				t.Errorf("trial_will_end without trial_end: %v; want malformed naming trial_end", err)
			}

			// A payment that needs the customer (3-D Secure).
			action := stripetest.Invoice{ID: "in_a", Subscription: "sub_t", Price: "price_std", BillingReason: "subscription_cycle",
				AmountDue: 999, HostedInvoiceURL: "https://invoice.stripe.com/i/a", Version: v}
			f, err = translate(stripetest.InvoicePaymentActionRequired("evt_t9", at, action))
			if err != nil || f.Kind != PaymentActionRequired || f.Key != "sub_t" || f.InvoiceURL != action.HostedInvoiceURL || f.Amount != 999 {
				t.Errorf("payment_action_required: %+v, %v", f, err)
			}
			action.HostedInvoiceURL = ""
			if _, err := translate(stripetest.InvoicePaymentActionRequired("evt_t10", at, action)); !errors.Is(err, ErrMalformed) {
				t.Errorf("payment_action_required without a link: %v; want malformed", err)
			}
		})
	}
}

func TestPlanTrialOption(t *testing.T) {
	t.Parallel()
	if _, err := ParseCatalog([]byte("plans:\n  - id: p\n    stripe_prices: [x]\n    provider: purevpn\n    trial: sometimes\n")); err == nil ||
		!strings.Contains(err.Error(), "trial must be provision or wait") {
		t.Errorf("trial: sometimes: %v; want an error naming the choices", err)
	}
}
