package billing

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
)

// withObject returns event with its data.object's key set to value.
func withObject(t *testing.T, event []byte, key string, value any) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(event, &ev); err != nil {
		t.Fatal(err)
	}
	ev["data"].(map[string]any)["object"].(map[string]any)[key] = value
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The customer's language comes from Stripe: the checkout session's
// locale (but "auto", which says nothing), the customer's first
// preferred_locales.
func TestFactLocale(t *testing.T) {
	t.Parallel()
	cat, err := ParseCatalog([]byte(shopPlans))
	if err != nil {
		t.Fatal(err)
	}
	tr := &Translator{Catalog: cat}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	checkout := stripetest.CheckoutCompleted("evt_c", at, stripetest.Checkout{Subscription: "sub_1", Email: "ann@example.com",
		Plan: "std-monthly", Paid: true, Amount: 999, Currency: "eur"})
	customer := stripetest.CustomerUpdated("evt_u", at, stripetest.Customer{ID: "cus_1", Email: "ann@example.com"})
	for _, tc := range []struct {
		name  string
		event []byte
		want  string
	}{
		{"checkout in German", withObject(t, checkout, "locale", "de"), "de"},
		{"checkout auto", withObject(t, checkout, "locale", "auto"), ""},
		{"checkout without locale", withObject(t, checkout, "locale", nil), ""},
		{"customer prefers", withObject(t, customer, "preferred_locales", []string{"de-DE", "en"}), "de-DE"},
		{"customer prefers nothing", withObject(t, customer, "preferred_locales", []string{}), ""},
	} {
		f, err := tr.Translate(context.Background(), tc.event)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if f.Locale != tc.want {
			t.Errorf("%s: Locale = %q, want %q", tc.name, f.Locale, tc.want)
		}
	}
}
