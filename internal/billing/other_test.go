package billing

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
)

// A shop that also sells other things lists them; what buys only those is
// no VPN order (skipped, no dead letter), while a price in neither list is
// still an unknown plan: a VPN price missing from the plans file is caught.
const shopPlans = `plans:
  - id: std-monthly
    stripe_prices: [price_std]
    provider: purevpn
other_products: [prod_merch]
other_prices: [price_tshirt, mug_lookup]
`

func TestOtherProducts(t *testing.T) {
	t.Parallel()
	cat, err := ParseCatalog([]byte(shopPlans))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	lines := sessionPrices{
		"cs_merch":   {{"price_cap", "prod_merch"}},              // by product
		"cs_mug":     {{"price_mug", "mug_lookup", "prod_home"}}, // by lookup key
		"cs_both":    {{"price_tshirt"}, {"price_std", "prod_vpn"}},
		"cs_unknown": {{"price_new_vpn", "prod_vpn"}},
		"cs_mixed":   {{"price_tshirt"}, {"price_new_vpn"}},
	}
	tr := &Translator{Catalog: cat, LineItems: lines}
	for _, tc := range []struct {
		session string
		want    error
		plan    string
	}{
		{"cs_merch", ErrIgnored, ""},
		{"cs_mug", ErrIgnored, ""},
		{"cs_both", nil, "std-monthly"},
		{"cs_unknown", ErrUnknownPlan, ""},
		{"cs_mixed", ErrUnknownPlan, ""}, // the unknown one may be a VPN price missing from the plans
	} {
		f, err := tr.Translate(context.Background(), stripetest.CheckoutCompleted("evt_"+tc.session, at,
			stripetest.Checkout{ID: tc.session, Paid: true, Amount: 500}))
		switch {
		case tc.want == nil && (err != nil || f.Plan.ID != tc.plan):
			t.Errorf("%s: %v, plan %q; want plan %s", tc.session, err, f.Plan.ID, tc.plan)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%s: %v; want %v", tc.session, err, tc.want)
		}
	}

	// The same for invoices and subscriptions, in every version.
	tr = &Translator{Catalog: cat}
	for _, v := range stripetest.Versions {
		inv := stripetest.Invoice{Subscription: "sub_shirt", Price: "price_tshirt", BillingReason: "subscription_cycle",
			PeriodStart: at, PeriodEnd: at.AddDate(0, 1, 0), AmountPaid: 500, Paid: true, Version: v}
		if _, err := tr.Translate(context.Background(), stripetest.InvoicePaid("evt_i", at, inv)); !errors.Is(err, ErrIgnored) {
			t.Errorf("%s: invoice of a t-shirt subscription: %v; want ignored", v, err)
		}
		inv.Price = "price_new_vpn"
		if _, err := tr.Translate(context.Background(), stripetest.InvoicePaid("evt_i", at, inv)); !errors.Is(err, ErrUnknownPlan) {
			t.Errorf("%s: invoice of an unknown price: %v; want unknown plan", v, err)
		}
		sub := stripetest.Subscription{ID: "sub_shirt", Price: "price_tshirt", Version: v}
		if _, err := tr.Translate(context.Background(), stripetest.SubscriptionUpdated("evt_s", at, sub)); !errors.Is(err, ErrIgnored) {
			t.Errorf("%s: update of a t-shirt subscription: %v; want ignored", v, err)
		}
	}
}

func TestOtherProductsCannotBePlanPrices(t *testing.T) {
	t.Parallel()
	_, err := ParseCatalog([]byte("plans:\n  - id: p\n    stripe_prices: [price_std]\n    provider: purevpn\nother_prices: [price_std]\n"))
	if err == nil || !strings.Contains(err.Error(), `"price_std" is a price of plan p`) {
		t.Errorf("a plan's price listed as another product: %v", err)
	}
}
