package billing

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
)

// stripeAPI answers GET /v1/checkout/sessions/{id}/line_items as Stripe
// does: a list object of line items, each with its price.
func stripeAPI(t *testing.T, key string, items map[string][]map[string]any) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+key {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"type":"invalid_request_error","code":"api_key_invalid","message":"Invalid API Key provided: ` + r.Header.Get("Authorization") + `"}}`))
			return
		}
		id, ok := strings.CutPrefix(r.URL.Path, "/v1/checkout/sessions/")
		id, ok2 := strings.CutSuffix(id, "/line_items")
		data, found := items[id]
		if r.Method != http.MethodGet || !ok || !ok2 || !found {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such checkout.session"}}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "url": r.URL.Path, "has_more": false, "data": data})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestCheckoutWithoutMetadataPlanUsesLineItems(t *testing.T) {
	t.Parallel()
	const key = "sk_test_lineItemsKey123"
	cat, err := NewCatalog([]Plan{{ID: "std", StripePrices: []string{"std_monthly"}, Provider: "purevpn"}})
	if err != nil {
		t.Fatal(err)
	}
	c := stripetest.Checkout{Subscription: "sub_1", Email: "a@example.com", Paid: true, Amount: 999}
	obj := stripetest.CheckoutSession(c)
	sessionID := obj["id"].(string)
	item := map[string]any{"id": "li_1", "object": "item", "quantity": 1, "amount_total": 999, "currency": "eur",
		"price": map[string]any{"id": "price_abc", "object": "price", "lookup_key": "std_monthly", "unit_amount": 999}}
	srv := stripeAPI(t, key, map[string][]map[string]any{sessionID: {item}})
	li, err := NewStripeLineItems(key, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	tr := &Translator{Catalog: cat, LineItems: li}
	f, err := tr.Translate(context.Background(), stripetest.Event("evt_li1", EventCheckoutCompleted, time.Now(), obj))
	if err != nil {
		t.Fatal(err)
	}
	if f.Plan.ID != "std" || f.Kind != Purchase {
		t.Errorf("fact = %s plan %q, want a purchase of std (found by the price's lookup key)", f.Kind, f.Plan.ID)
	}

	// A session Stripe does not know, and a wrong key: errors that say why
	// and never show the key.
	other := stripetest.CheckoutSession(c)
	if _, err := tr.Translate(context.Background(), stripetest.Event("evt_li2", EventCheckoutCompleted, time.Now(), other)); err == nil ||
		!strings.Contains(err.Error(), "resource_missing") {
		t.Errorf("unknown session: %v", err)
	}
	bad, _ := NewStripeLineItems("sk_test_wrongKey999", srv.URL)
	_, err = (&Translator{Catalog: cat, LineItems: bad}).Translate(context.Background(), stripetest.Event("evt_li3", EventCheckoutCompleted, time.Now(), obj))
	if err == nil || strings.Contains(err.Error(), "wrongKey999") {
		t.Errorf("wrong key: %v (must fail without showing the key)", err)
	}
}
