package billing

import (
	"strings"
	"testing"
)

func TestPlanPrice(t *testing.T) {
	t.Parallel()
	c, err := ParseCatalog([]byte(`plans:
  - id: std-monthly
    stripe_prices: [std_monthly]
    provider: purevpn
    price: {amount: 999, currency: eur}
  - id: week-pass
    stripe_prices: [week_pass]
    provider: vpnki
    period_days: 7
    price: {amount: 300, currency: usd, one_off: true}
  - id: no-price
    stripe_prices: [price_1]
    provider: vpnki
`))
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]*PlanPrice{
		"std-monthly": {Amount: 999, Currency: "eur"},
		"week-pass":   {Amount: 300, Currency: "usd", OneOff: true},
		"no-price":    nil,
	} {
		p, _ := c.ByID(id)
		switch {
		case want == nil && p.Price != nil:
			t.Errorf("%s: price %+v, want none", id, *p.Price)
		case want != nil && (p.Price == nil || *p.Price != *want):
			t.Errorf("%s: price %+v, want %+v", id, p.Price, *want)
		}
	}

	for _, tc := range []struct{ price, want string }{
		{"{amount: 0, currency: eur}", "amount must be at least 1"},
		{"{amount: -5, currency: eur}", "amount must be at least 1"},
		{"{currency: eur}", "amount must be at least 1"},
		{"{amount: 999}", "currency must be"},
		{"{amount: 999, currency: EUR}", "currency must be"},
		{"{amount: 999, currency: euro}", "currency must be"},
		{"{amount: 999, currency: eur, interval: month}", "field interval not found"},
	} {
		_, err := ParseCatalog([]byte("plans:\n  - id: p\n    provider: vpnki\n    price: " + tc.price + "\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("price %s: error %v, want %q", tc.price, err, tc.want)
		}
	}
}
