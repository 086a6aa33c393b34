package ops

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stripe/stripe-go/v76"

	"github.com/vpnbill/vpnbill/internal/billing"
)

func TestEndpointVersionIsTheNewestFamilyRead(t *testing.T) {
	t.Parallel()
	v := EndpointVersion()
	if !billing.ReadsVersion(v) || v != billing.ReadableVersions[len(billing.ReadableVersions)-1] {
		t.Errorf("EndpointVersion() = %q", v)
	}
}

func TestEndpointVersionOK(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{
		"":                  false, // the account's default: unknown, and may change
		"2022-11-15":        false, // older than vpnbill reads
		"2023-10-16":        true,
		"2025-03-31.basil":  true,
		EndpointVersion():   true,
		"2026-04-22.dahlia": true, // a later version of the newest family
		"2027-03-31.zinnia": false,
	} {
		if got := endpointVersionOK(v); got != want {
			t.Errorf("endpointVersionOK(%q) = %t, want %t", v, got, want)
		}
	}
}

func TestEndpointUpdate(t *testing.T) {
	t.Parallel()
	handled := slices.Clone(billing.HandledTypes)
	reversed := slices.Clone(handled)
	slices.Reverse(reversed)
	for _, tc := range []struct {
		name    string
		we      stripe.WebhookEndpoint
		changes []string // nil: no update
	}{
		{name: "as it should be", we: stripe.WebhookEndpoint{EnabledEvents: handled, Status: "enabled"}},
		{name: "another order", we: stripe.WebhookEndpoint{EnabledEvents: reversed, Status: "enabled"}},
		{name: "repeated", we: stripe.WebhookEndpoint{EnabledEvents: append(slices.Clone(handled), handled[0]), Status: "enabled"}},
		{name: "disabled", we: stripe.WebhookEndpoint{EnabledEvents: handled, Status: "disabled"}, changes: []string{"enabled (was disabled)"}},
		{name: "every event", we: stripe.WebhookEndpoint{EnabledEvents: []string{"*"}, Status: "enabled"}},
		{name: "one missing, one more", we: stripe.WebhookEndpoint{EnabledEvents: append(slices.Clone(handled[1:]), "charge.failed"), Status: "enabled"},
			changes: []string{"enabled_events: +" + handled[0] + " -charge.failed"}},
	} {
		p, changes := endpointUpdate(&tc.we)
		if tc.name == "every event" { // "*" is not exactly the handled types
			if p == nil || !slices.Equal(values(p.EnabledEvents), handled) {
				t.Errorf("%s: update %+v", tc.name, p)
			}
			continue
		}
		if !slices.Equal(changes, tc.changes) || (p == nil) != (tc.changes == nil) {
			t.Errorf("%s: changes %q (update %t), want %q", tc.name, changes, p != nil, tc.changes)
		}
		if p != nil && p.EnabledEvents != nil && !slices.Equal(values(p.EnabledEvents), handled) {
			t.Errorf("%s: sets events %v", tc.name, values(p.EnabledEvents))
		}
		if p != nil && p.APIVersion != nil {
			t.Errorf("%s: an update sets api_version, which Stripe takes only at creation", tc.name)
		}
	}
}

func TestStripeInterval(t *testing.T) {
	t.Parallel()
	for days, want := range map[int]string{30: "1 month", 60: "2 month", 90: "3 month", 180: "6 month", 365: "1 year", 7: "1 week", 14: "2 week", 10: "10 day", 360: "12 month"} {
		interval, count := stripeInterval(days)
		if got := fmt.Sprintf("%d %s", count, interval); got != want {
			t.Errorf("stripeInterval(%d) = %s, want %s", days, got, want)
		}
	}
}

func TestPriceDiff(t *testing.T) {
	t.Parallel()
	monthly := func(amount int64, currency string, interval stripe.PriceRecurringInterval, count int64) *stripe.Price {
		return &stripe.Price{UnitAmount: amount, Currency: stripe.Currency(currency),
			Recurring: &stripe.PriceRecurring{Interval: interval, IntervalCount: count}}
	}
	want := billing.PlanPrice{Amount: 999, Currency: "eur"}
	for _, tc := range []struct {
		name string
		pr   *stripe.Price
		diff string
	}{
		{name: "same", pr: monthly(999, "eur", "month", 1)},
		{name: "amount", pr: monthly(500, "eur", "month", 1), diff: "Stripe's is 5.00 EUR every month, the plans file's 9.99 EUR every month"},
		{name: "currency", pr: monthly(999, "usd", "month", 1), diff: "Stripe's is 9.99 USD every month, the plans file's 9.99 EUR every month"},
		{name: "interval", pr: monthly(999, "eur", "month", 3), diff: "Stripe's is 9.99 EUR every 3 months, the plans file's 9.99 EUR every month"},
		{name: "one-off", pr: &stripe.Price{UnitAmount: 999, Currency: "eur"}, diff: "Stripe's is 9.99 EUR once, the plans file's 9.99 EUR every month"},
	} {
		if got := priceDiff(want, 30, tc.pr); got != tc.diff {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.diff)
		}
	}
	if got := priceDiff(billing.PlanPrice{Amount: 300, Currency: "usd", OneOff: true}, 7, &stripe.Price{UnitAmount: 300, Currency: "usd"}); got != "" {
		t.Errorf("a one-off price: %q", got)
	}
}

func TestCheckEndpointURL(t *testing.T) {
	t.Parallel()
	for u, ok := range map[string]bool{
		"https://vpn.example.com/stripe/webhook":      true,
		"http://127.0.0.1:8080/stripe/webhook":        true,
		"vpn.example.com/stripe/webhook":              false,
		"https:///stripe/webhook":                     false,
		"ftp://vpn.example.com/stripe/webhook":        false,
		"https://user:pw@vpn.example.com/stripe/hook": false,
		"": false,
	} {
		if err := CheckEndpointURL(u); (err == nil) != ok {
			t.Errorf("CheckEndpointURL(%q) = %v", u, err)
		}
	}
}

func values(ps []*string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = *p
	}
	return out
}
