package billing

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
)

// dahliaDate is the first version whose refund names its customer.
const dahliaDate = "2026-03-25"

// TestTranslateRefundUpdated: in every version family, a refund that failed
// or was canceled is a RefundReverted fact of its amount, naming the refund
// and its charge; a refund still waiting or that succeeded changes nothing
// (its charge.refunded counted it), and a status vpnbill does not know, or
// a reverted refund that names no payment, is a dead letter naming both.
func TestTranslateRefundUpdated(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	made := created.Add(-48 * time.Hour)
	for _, v := range stripetest.Versions {
		refund := func(edit func(r *stripetest.Refund)) []byte {
			r := stripetest.Refund{ID: "re_1", Charge: "ch_1", PaymentIntent: "pi_1", Customer: "cus_ada", Amount: 400,
				Currency: "usd", Created: made, Version: v}
			edit(&r)
			return stripetest.ChargeRefundUpdated("evt_1", created, r)
		}
		customer := ""
		if v >= dahliaDate {
			customer = "cus_ada"
		}
		reverted := Fact{Kind: RefundReverted, EventID: "evt_1", EventType: EventChargeRefundUpdated, Created: created,
			Refund: "re_1", RefundCreated: made, Charge: "ch_1", PaymentIntent: "pi_1", Customer: customer, Amount: 400, Currency: "usd"}
		tests := []struct {
			name    string
			payload []byte
			want    error  // nil: the fact is reverted
			reason  string // in the error
		}{
			{"failed", refund(func(r *stripetest.Refund) { r.Status = "failed" }), nil, ""},
			{"canceled", refund(func(r *stripetest.Refund) { r.Status = "canceled" }), nil, ""},
			{"succeeded", refund(func(r *stripetest.Refund) { r.Status = "succeeded" }), ErrIgnored, "already counted"},
			{"pending", refund(func(r *stripetest.Refund) { r.Status = "pending" }), ErrIgnored, "is pending"},
			{"requires_action", refund(func(r *stripetest.Refund) { r.Status = "requires_action" }), ErrIgnored, "is requires_action"},
			{"a status vpnbill does not know", refund(func(r *stripetest.Refund) { r.Status = "reversed" }), ErrMalformed, `status "reversed"`},
			{"failed, of no charge or payment intent", refund(func(r *stripetest.Refund) {
				r.Status, r.Charge, r.PaymentIntent = "failed", "", ""
			}), ErrMalformed, "no charge or payment_intent"},
			{"failed, of no amount", refund(func(r *stripetest.Refund) { r.Status, r.Amount = "failed", 0 }), ErrMalformed, "amount 0"},
		}
		for _, tt := range tests {
			t.Run(v+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				tr := &Translator{Catalog: testCatalog(t)}
				got, err := tr.Translate(context.Background(), tt.payload)
				switch {
				case tt.want == nil && err != nil:
					t.Fatalf("Translate: %v", err)
				case tt.want == nil:
					if !reflect.DeepEqual(got, reverted) {
						t.Errorf("fact\n got  %+v\n want %+v", got, reverted)
					}
				case !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.reason) || !strings.Contains(err.Error(), "re_1"):
					t.Errorf("error %v; want %v naming re_1 and %q", err, tt.want, tt.reason)
				}
				if errors.Is(tt.want, ErrMalformed) && !strings.Contains(err.Error(), v) {
					t.Errorf("error %v does not name api_version %s", err, v)
				}
			})
		}
	}
}

// A reverted refund that names only its payment intent (Stripe's charge
// field is nullable) is found by it.
func TestTranslateRefundUpdatedByPaymentIntent(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	payload := stripetest.ChargeRefundUpdated("evt_1", created, stripetest.Refund{ID: "re_2", PaymentIntent: "pi_2", Amount: 999, Status: "canceled"})
	f, err := (&Translator{Catalog: testCatalog(t)}).Translate(context.Background(), payload)
	if err != nil || f.Kind != RefundReverted || f.Charge != "" || f.PaymentIntent != "pi_2" || f.Refund != "re_2" || f.Amount != 999 {
		t.Errorf("fact %+v, %v; want re_2 of pi_2 reverted", f, err)
	}
}
