package provisioning

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/account"
	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
	"github.com/vpnbill/vpnbill/internal/providers"
)

// benchStart is when the benchmarks' subscription was bought.
var benchStart = time.Date(2025, 1, 10, 9, 0, 0, 0, time.UTC)

// benchFacts translates, as the worker does, the events of a subscription
// bought at benchStart and renewed months times, then one more renewal and
// the purchase's invoice.paid again under another event id (Stripe's
// checkout and first invoice are both purchases): the history, the next
// renewal and a late purchase.
func benchFacts(b *testing.B, months int) (history []billing.Fact, renewal, purchase billing.Fact) {
	b.Helper()
	cat, err := billing.NewCatalog([]billing.Plan{{
		ID: "std-monthly", Name: "Standard VPN, monthly", StripePrices: []string{"price_std"},
		Provider: "purevpn", PackageType: "STANDARD", PeriodDays: 30,
	}})
	if err != nil {
		b.Fatal(err)
	}
	tr := &billing.Translator{Catalog: cat}
	translate := func(payload []byte) billing.Fact {
		f, err := tr.Translate(context.Background(), payload)
		if err != nil {
			b.Fatal(err)
		}
		return f
	}
	const sub, cus = "sub_bench", "cus_bench"
	invoice := func(n int, id string) billing.Fact {
		start := benchStart.AddDate(0, n, 0)
		reason := "subscription_cycle"
		if n == 0 {
			reason = "subscription_create"
		}
		return translate(stripetest.InvoicePaid(id, start.Add(time.Minute), stripetest.Invoice{
			ID: fmt.Sprintf("in_bench%02d", n), Subscription: sub, Customer: cus, Email: "ada@example.com", Name: "Ada Lovelace",
			BillingReason: reason, Price: "price_std", PeriodStart: start, PeriodEnd: start.AddDate(0, 1, 0),
			AmountPaid: 999, Currency: "eur", Paid: true, Charge: fmt.Sprintf("ch_bench%02d", n),
			PaymentIntent: fmt.Sprintf("pi_bench%02d", n), HostedInvoiceURL: "https://invoice.stripe.com/i/acct_1/bench", Created: start,
		}))
	}
	history = append(history, translate(stripetest.CheckoutCompleted("evt_bench_checkout", benchStart, stripetest.Checkout{
		ID: "cs_bench", Subscription: sub, Customer: cus, Email: "ada@example.com", Name: "Ada Lovelace",
		Plan: "std-monthly", Paid: true, Amount: 999, Currency: "eur",
	})))
	for n := range months {
		history = append(history, invoice(n, fmt.Sprintf("evt_bench_invoice%02d", n)))
		if n%4 == 0 { // Stripe sends subscription updates along the way
			start := benchStart.AddDate(0, n, 0)
			history = append(history, translate(stripetest.SubscriptionUpdated(fmt.Sprintf("evt_bench_sub%02d", n), start.Add(2*time.Minute),
				stripetest.Subscription{ID: sub, Customer: cus, Status: "active", Price: "price_std",
					CurrentPeriodStart: start, CurrentPeriodEnd: start.AddDate(0, 1, 0)})))
		}
	}
	return history, invoice(months, "evt_bench_renewal"), invoice(0, "evt_bench_purchase_again")
}

// benchRecord is the record of a year-old subscription as stored: every
// fact folded, the account made and renewed, the welcome email sent, the
// audit outbox published.
func benchRecord(b *testing.B) (stored []byte, renewal, purchase billing.Fact) {
	b.Helper()
	history, renewal, purchase := benchFacts(b, 12)
	r := &Record{Key: "sub_bench", Created: benchStart}
	for _, f := range history {
		fold(r, f, benchPolicy)
	}
	r.Actual = Actual{Provider: "purevpn", Username: "vpnb12345678", Exists: true, Enabled: true,
		Expiry: r.Desired.PaidThrough, Generation: 1, CreatedAt: benchStart.Add(3 * time.Second),
		PlanID: "std-monthly", PackageType: "STANDARD", PeriodDays: 30}
	r.Emails = map[string]SentEmail{"welcome.1": {MessageID: "<welcome.1.sub_bench@vpnbill>", Sent: benchStart.Add(5 * time.Second)}}
	r.Outbox, r.Mail = nil, nil
	r.Format = FormatVersion
	stored, err := json.Marshal(r)
	if err != nil {
		b.Fatal(err)
	}
	return stored, renewal, purchase
}

var benchPolicy = policy{grace: 72 * time.Hour, deleteAfter: 30 * 24 * time.Hour}

// BenchmarkFold folds a fact into a record: a purchase into a new record
// (a subscription's first event), and a renewal and a late purchase into
// the record of a year-old subscription (12 payments, 16 applied events).
// Each fold gets its own copy of the record, made in batches with the timer
// stopped.
func BenchmarkFold(b *testing.B) {
	stored, renewal, purchase := benchRecord(b)
	fresh, err := json.Marshal(&Record{Key: "sub_bench", Format: FormatVersion})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		record []byte
		fact   billing.Fact
	}{
		{"fact=purchase/record=new", fresh, purchase},
		{"fact=purchase/record=history", stored, purchase},
		{"fact=renewal/record=history", stored, renewal},
	} {
		b.Run(tc.name, func(b *testing.B) {
			orig, err := DecodeRecord(tc.record)
			if err != nil {
				b.Fatal(err)
			}
			const batch = 256
			recs := make([]*Record, batch)
			b.ReportAllocs()
			for i := range b.N {
				if i%batch == 0 {
					b.StopTimer()
					for j := range recs {
						recs[j] = cloneForFold(orig)
					}
					b.StartTimer()
				}
				fold(recs[i%batch], tc.fact, benchPolicy)
			}
			b.StopTimer()
			// The copies shared nothing fold changes with the original.
			if after, err := json.Marshal(orig); err != nil || !bytes.Equal(after, tc.record) {
				b.Fatalf("fold changed the record it was given a copy of (%v)", err)
			}
		})
	}
}

// cloneForFold copies r deeply enough for fold: what fold appends to or
// changes in place is copied, with the capacity decoding gave it (so an
// append costs what it costs on a record read from the store), and what it
// only reads is shared.
func cloneForFold(r *Record) *Record {
	c := *r
	c.Applied = cloneCap(r.Applied)
	c.Outbox = cloneCap(r.Outbox)
	c.Mail = cloneCap(r.Mail)
	c.Emails = maps.Clone(r.Emails)
	d := &c.Desired
	d.Dunning = cloneCap(d.Dunning)
	d.Seats = cloneCap(d.Seats)
	d.Payments = cloneCap(d.Payments)
	for i := range d.Payments {
		d.Payments[i].Reverted = cloneCap(d.Payments[i].Reverted)
	}
	return &c
}

func cloneCap[S ~[]E, E any](s S) S {
	if s == nil {
		return nil
	}
	return append(make(S, 0, cap(s)), s...)
}

// BenchmarkRecord is what the store does around every fold and every step
// of the record of a year-old subscription: decode it, encode it; and what
// the step machine asks the account core of it (State, then Decide).
func BenchmarkRecord(b *testing.B) {
	stored, _, _ := benchRecord(b)
	b.Logf("the record of a year-old subscription is %d bytes", len(stored))
	r, err := DecodeRecord(stored)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("op=decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(stored)))
		for b.Loop() {
			if _, err := DecodeRecord(stored); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=clone", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(stored)))
		for b.Loop() {
			if c := r.clone(); c.Key != r.Key {
				b.Fatal("clone lost the key")
			}
		}
	})
	b.Run("op=encode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(stored)))
		for b.Loop() {
			data, err := json.Marshal(r)
			if err != nil || len(data) != len(stored) {
				b.Fatalf("encoded %d bytes (%v), want %d", len(data), err, len(stored))
			}
		}
	})
	b.Run("op=decide", func(b *testing.B) {
		caps := providers.CapabilitiesOf(providers.PureVPN)
		now := r.Desired.PaidThrough.Add(-24 * time.Hour)
		pol := account.Policy{Grace: benchPolicy.grace, AdoptAfter: 30 * time.Second}
		b.ReportAllocs()
		for b.Loop() {
			if d := account.Decide(r.State(), caps, now, pol); d.Action != account.None {
				b.Fatalf("Decide: %s, want nothing to do", d.Action)
			}
		}
	})
}

// BenchmarkSealer seals a new account's password with the record key, and
// opens it again for the welcome email.
func BenchmarkSealer(b *testing.B) {
	s, err := NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		b.Fatal(err)
	}
	const key, password = "sub_bench", "Xk9#pQ2v!Lm7"
	sealed, err := s.Seal(key, password)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("op=seal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Seal(key, password); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=open", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if pt, err := s.Open(key, sealed); err != nil || pt != password {
				b.Fatalf("Open: %q, %v", pt, err)
			}
		}
	})
}
