package billing

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
)

// Seats: a subscription item with quantity N buys N seats, read from the
// items of subscription events and the period's lines of paid invoices in
// every API version. An invoice of prorations only does not say the seats.
func TestTranslateSeats(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	start, end := at, at.AddDate(0, 1, 0)
	tr := &Translator{Catalog: testCatalog(t)}
	std, tunnel := plan(t, "std-monthly"), plan(t, "tunnel-90")
	for _, v := range stripetest.Versions {
		inv := stripetest.Invoice{ID: "in_1", Subscription: "sub_1", Customer: "cus_ada", BillingReason: "subscription_cycle",
			Price: "price_std", Quantity: 5, PeriodStart: start, PeriodEnd: end, AmountDue: 4995, Version: v}
		sub := stripetest.Subscription{ID: "sub_1", Customer: "cus_ada", Price: "price_std", Quantity: 3,
			CurrentPeriodStart: start, CurrentPeriodEnd: end, Version: v}
		for _, tc := range []struct {
			name    string
			payload []byte
			want    []Item
		}{
			{"invoice of 5 seats", stripetest.InvoicePaid("evt_1", at, inv), []Item{{Plan: std, Seats: 5}}},
			{"invoice of prorations only", stripetest.InvoicePaid("evt_1", at, editInvoice(inv, func(i *stripetest.Invoice) {
				i.BillingReason, i.Proration = "subscription_update", true
			})), nil},
			{"subscription of 3 seats", stripetest.SubscriptionUpdated("evt_1", at, sub), []Item{{Plan: std, Seats: 3}}},
			{"subscription of two VPN items and another product", addItems(t, stripetest.SubscriptionUpdated("evt_1", at, sub),
				item{"price_tunnel", 2}, item{"price_mystery", 1}), []Item{{Plan: std, Seats: 3}, {Plan: tunnel, Seats: 2}}},
			{"invoice of two VPN lines", addLines(t, stripetest.InvoicePaid("evt_1", at, inv), item{"price_tunnel", 4}),
				[]Item{{Plan: std, Seats: 5}, {Plan: tunnel, Seats: 4}}},
		} {
			f, err := tr.Translate(context.Background(), tc.payload)
			if err != nil {
				t.Errorf("%s %s: %v", v, tc.name, err)
				continue
			}
			if !reflect.DeepEqual(f.Items, tc.want) {
				t.Errorf("%s %s: items %+v, want %+v", v, tc.name, f.Items, tc.want)
			}
			if f.Plan.ID != std.ID {
				t.Errorf("%s %s: plan %s, want the first item's, %s", v, tc.name, f.Plan.ID, std.ID)
			}
		}
	}
}

type item struct {
	price    string
	quantity int64
}

// addItems adds subscription items of prices to a subscription event.
func addItems(t *testing.T, payload []byte, items ...item) []byte {
	t.Helper()
	return editObject(t, payload, func(o map[string]any) {
		list := o["items"].(map[string]any)
		data := list["data"].([]any)
		for _, it := range items {
			c := clone(t, data[0].(map[string]any))
			c["quantity"] = it.quantity
			p := c["price"].(map[string]any)
			p["id"], p["lookup_key"], p["product"] = it.price, nil, "prod_other"
			data = append(data, c)
		}
		list["data"] = data
	})
}

// addLines adds subscription lines of prices, for the same period, to an
// invoice event.
func addLines(t *testing.T, payload []byte, items ...item) []byte {
	t.Helper()
	return editObject(t, payload, func(o map[string]any) {
		list := o["lines"].(map[string]any)
		data := list["data"].([]any)
		for _, it := range items {
			c := clone(t, data[0].(map[string]any))
			c["quantity"] = it.quantity
			if p, ok := c["price"].(map[string]any); ok { // up to acacia
				p["id"], p["lookup_key"], p["product"] = it.price, nil, "prod_other"
			} else {
				c["pricing"].(map[string]any)["price_details"].(map[string]any)["price"] = it.price
			}
			data = append(data, c)
		}
		list["data"] = data
	})
}

func editObject(t *testing.T, payload []byte, edit func(o map[string]any)) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	edit(ev["data"].(map[string]any)["object"].(map[string]any))
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func clone(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}
