package provisioning

import (
	"testing"

	"github.com/vpnbill/vpnbill/internal/billing"
)

// The record keeps the customer's language: the checkout's, or a newer
// customer.updated's preferred one, whatever order the facts come in.
func TestFoldKeepsTheLocale(t *testing.T) {
	t.Parallel()
	std := billing.Plan{ID: "std", Provider: "purevpn"}
	purchase := billing.Fact{Kind: billing.Purchase, EventID: "evt_1", Created: at(0), Key: "sub_1", Plan: std,
		Email: "ann@example.com", Locale: "de"}
	renewal := billing.Fact{Kind: billing.Renewal, EventID: "evt_2", Created: at(5), Key: "sub_1", Plan: std}
	prefers := billing.Fact{Kind: billing.CustomerChanged, EventID: "evt_3", Created: at(7), Key: "sub_1", Locale: "fr-FR"}
	older := billing.Fact{Kind: billing.CustomerChanged, EventID: "evt_4", Created: at(6), Key: "sub_1", Locale: "en"}
	for _, tc := range []struct {
		name  string
		facts []billing.Fact
		want  string
	}{
		{"the checkout's", []billing.Fact{purchase, renewal}, "de"},
		{"the checkout's, renewal first", []billing.Fact{renewal, purchase}, "de"},
		{"the customer's newer preference", []billing.Fact{purchase, prefers, older}, "fr-FR"},
		{"the customer's newer preference, in another order", []billing.Fact{older, prefers, purchase}, "fr-FR"},
	} {
		r := &Record{Key: "sub_1"}
		for _, f := range tc.facts {
			fold(r, f, testPolicy)
		}
		if r.Desired.Locale != tc.want {
			t.Errorf("%s: Locale = %q, want %q", tc.name, r.Desired.Locale, tc.want)
		}
	}
}
