package billing

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
)

// stripeAPI answers GET /v1/checkout/sessions/{id}/line_items as Stripe
// does: a list object of line items, each with its price; and GET
// /v1/prices/{id}: the price.
func stripeAPI(t *testing.T, key string, items map[string][]map[string]any, prices map[string]map[string]any) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+key {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"type":"invalid_request_error","code":"api_key_invalid","message":"Invalid API Key provided: ` + r.Header.Get("Authorization") + `"}}`))
			return
		}
		if id, ok := strings.CutPrefix(r.URL.Path, "/v1/prices/"); ok && r.Method == http.MethodGet {
			p, found := prices[id]
			if !found {
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(`{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such price: '` + id + `'"}}`))
				return
			}
			_ = json.NewEncoder(w).Encode(p)
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
	srv := stripeAPI(t, key, map[string][]map[string]any{sessionID: {item}}, nil)
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

// TestBasilRenewalReadsTheLookupKeyFromStripe: from basil on an invoice line
// names its price by id only; a plan listed by lookup key is found through
// the Stripe API, so the renewal is not lost.
func TestBasilRenewalReadsTheLookupKeyFromStripe(t *testing.T) {
	t.Parallel()
	const key = "sk_test_priceKey123"
	cat, err := NewCatalog([]Plan{{ID: "std", StripePrices: []string{"std_monthly"}, Provider: "purevpn"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := stripeAPI(t, key, nil, map[string]map[string]any{
		"price_abc": {"id": "price_abc", "object": "price", "lookup_key": "std_monthly", "unit_amount": 999, "currency": "eur"},
		"price_old": {"id": "price_old", "object": "price", "lookup_key": nil, "unit_amount": 999, "currency": "eur"},
	})
	li, err := NewStripeLineItems(key, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	tr := &Translator{Catalog: cat, LineItems: li}
	at := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	renewal := func(price string) []byte {
		return stripetest.InvoicePaid("evt_renew", at, stripetest.Invoice{
			Subscription: "sub_1", BillingReason: "subscription_cycle", Price: price, AmountDue: 999,
			PeriodStart: at, Version: "2026-03-25.dahlia",
		})
	}
	f, err := tr.Translate(context.Background(), renewal("price_abc"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Kind != Renewal || f.Plan.ID != "std" || !f.PeriodEnd.Equal(at.AddDate(0, 1, 0)) {
		t.Errorf("fact = %s plan %q through %v, want a renewal of std (found by the price's lookup key) through %v", f.Kind, f.Plan.ID, f.PeriodEnd, at.AddDate(0, 1, 0))
	}
	// A price of no plan, and one Stripe does not know: the operator is told.
	if _, err := tr.Translate(context.Background(), renewal("price_old")); !errors.Is(err, ErrUnknownPlan) || !strings.Contains(err.Error(), "price_old") {
		t.Errorf("price of no plan: %v, want ErrUnknownPlan naming it", err)
	}
	if _, err := tr.Translate(context.Background(), renewal("price_gone")); err == nil || !strings.Contains(err.Error(), "resource_missing") {
		t.Errorf("unknown price: %v", err)
	}
}
