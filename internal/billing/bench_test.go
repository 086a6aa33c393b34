package billing_test

import (
	"context"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
)

const benchSecret = "whsec_benchSecret0123456789abcdef"

// benchEvents are the events the benchmarks read: a subscription's
// checkout.session.completed and a renewal's invoice.paid, in the oldest
// and the newest API version the builders speak.
func benchEvents() []struct{ name, version, event string } {
	oldest, newest := stripetest.Versions[0], stripetest.Versions[len(stripetest.Versions)-1]
	var evs []struct{ name, version, event string }
	for _, v := range []string{oldest, newest} {
		evs = append(evs,
			struct{ name, version, event string }{"checkout", v, billing.EventCheckoutCompleted},
			struct{ name, version, event string }{"invoice", v, billing.EventInvoicePaid})
	}
	return evs
}

func benchPayload(event, version string, created time.Time) []byte {
	start := created.Truncate(time.Hour)
	switch event {
	case billing.EventCheckoutCompleted:
		return stripetest.CheckoutCompleted("evt_bench_checkout", created, stripetest.Checkout{
			ID: "cs_bench", Subscription: "sub_bench", Customer: "cus_bench", Email: "ada@example.com", Name: "Ada Lovelace",
			Plan: "std-monthly", Paid: true, Amount: 999, Currency: "eur", Version: version,
		})
	default:
		return stripetest.InvoicePaid("evt_bench_invoice", created, stripetest.Invoice{
			ID: "in_bench", Subscription: "sub_bench", Customer: "cus_bench", Email: "ada@example.com", Name: "Ada Lovelace",
			BillingReason: "subscription_cycle", Price: "price_std", PeriodStart: start, PeriodEnd: start.AddDate(0, 1, 0),
			AmountPaid: 999, Currency: "eur", Paid: true, Version: version,
		})
	}
}

// BenchmarkVerifyEnvelope is what the webhook does with a body before it
// stores it: the signature check (billing.Verifier.Verify, stripe-go's HMAC
// underneath) and the envelope (ParseEnvelope), each alone and both, of an
// invoice.paid of the newest API version.
func BenchmarkVerifyEnvelope(b *testing.B) {
	v, err := billing.NewVerifier([]string{benchSecret}, 0)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	payload := benchPayload(billing.EventInvoicePaid, stripetest.Versions[len(stripetest.Versions)-1], now)
	header := stripetest.Sign(payload, benchSecret, now) // valid for the 300 s tolerance
	verify := func(b *testing.B) {
		if err := v.Verify(payload, header); err != nil {
			b.Fatal(err)
		}
	}
	envelope := func(b *testing.B) {
		if _, err := billing.ParseEnvelope(payload); err != nil {
			b.Fatal(err)
		}
	}
	for _, part := range []struct {
		name string
		fn   func(*testing.B)
	}{
		{"verify", verify},
		{"envelope", envelope},
		{"both", func(b *testing.B) { verify(b); envelope(b) }},
	} {
		b.Run("part="+part.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				part.fn(b)
			}
		})
	}
}

// BenchmarkTranslate is the worker's reading of an event into a fact:
// a checkout.session.completed and an invoice.paid, in the oldest and the
// newest API version.
func BenchmarkTranslate(b *testing.B) {
	cat, err := billing.NewCatalog([]billing.Plan{{
		ID: "std-monthly", Name: "Standard VPN, monthly", StripePrices: []string{"price_std", "std_monthly"},
		Provider: "purevpn", PackageType: "STANDARD", PeriodDays: 30,
	}})
	if err != nil {
		b.Fatal(err)
	}
	tr := &billing.Translator{Catalog: cat}
	ctx := context.Background()
	for _, ev := range benchEvents() {
		payload := benchPayload(ev.event, ev.version, time.Now())
		b.Run("event="+ev.name+"/version="+ev.version, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				f, err := tr.Translate(ctx, payload)
				if err != nil || f.Plan.ID != "std-monthly" {
					b.Fatalf("Translate: %+v, %v", f, err)
				}
			}
		})
	}
}
