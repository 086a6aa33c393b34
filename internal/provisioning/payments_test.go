package provisioning

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing"
)

// refundFacts builds the facts of one subscription (or one-off order) and
// of the refunds of its payments, each with its own event id.
type refundFacts struct{ n int }

func (b *refundFacts) fact(k billing.Kind, h int, mod func(*billing.Fact)) billing.Fact {
	b.n++
	f := billing.Fact{Kind: k, EventID: fmt.Sprintf("evt_%d", b.n), Created: at(h), Currency: "eur"}
	mod(&f)
	return f
}

// paid is invoice n of sub_1 paid by charge ch_n, for the period ending at
// hour end.
func (b *refundFacts) paid(n, h, end int) billing.Fact {
	kind := billing.Renewal
	if n == 1 {
		kind = billing.Purchase
	}
	return b.fact(kind, h, func(f *billing.Fact) {
		f.Key, f.Subscription, f.Plan = "sub_1", "sub_1", billing.Plan{ID: "std", Provider: "purevpn"}
		f.Invoice, f.Charge, f.Amount, f.PeriodEnd = fmt.Sprintf("in_%d", n), fmt.Sprintf("ch_%d", n), 999, at(end)
	})
}

// oneOff is the purchase of a one-off order paid by pi_1.
func (b *refundFacts) oneOff() billing.Fact {
	return b.fact(billing.Purchase, 0, func(f *billing.Fact) {
		f.Key, f.OneOff, f.CheckoutSession, f.PaymentIntent = "cs_1", true, "cs_1", "pi_1"
		f.Plan, f.Amount, f.PeriodEnd = billing.Plan{ID: "std", Provider: "purevpn"}, 999, at(24*365)
	})
}

// refunded is charge.refunded of charge ch_n at hour h: Stripe's running
// total and flag.
func (b *refundFacts) refunded(n, h int, total int64, full bool) billing.Fact {
	return b.fact(billing.Refunded, h, func(f *billing.Fact) {
		f.Charge, f.PaymentIntent, f.Amount, f.FullRefund = fmt.Sprintf("ch_%d", n), fmt.Sprintf("pi_%d", n), total, full
	})
}

// reverted is charge.refund.updated at hour h: refund id of charge ch_n,
// made at hour made, failed.
func (b *refundFacts) reverted(n, h int, id string, made int, amount int64) billing.Fact {
	return b.fact(billing.RefundReverted, h, func(f *billing.Fact) {
		f.Charge, f.PaymentIntent = fmt.Sprintf("ch_%d", n), fmt.Sprintf("pi_%d", n)
		f.Refund, f.RefundCreated, f.Amount = id, at(made), amount
	})
}

// A refund that fails or is canceled gives back what it took, in whatever
// order its events come: the payment counts again and the suspension (or,
// for a one-off order, the end) it caused is lifted; what is refunded
// (the finance report's column) is net of it.
func TestFoldRefundReverted(t *testing.T) {
	t.Parallel()
	del := testPolicy.deleteAfter
	var b refundFacts
	cases := []struct {
		name      string
		facts     []billing.Fact
		status    Status
		suspendAt time.Time
		deleteAt  time.Time
		refunded  int64 // of the payment refunds are about (ch_1, or the one-off order's)
	}{
		{"a full refund, then it failed", []billing.Fact{
			b.paid(1, 0, 720), b.refunded(1, 48, 999, true), b.reverted(1, 96, "re_1", 48, 999),
		}, StatusActive, time.Time{}, time.Time{}, 0},
		{"the failure before the refund (reordered)", []billing.Fact{
			b.reverted(1, 96, "re_1", 48, 999), b.paid(1, 0, 720), b.refunded(1, 48, 999, true),
		}, StatusActive, time.Time{}, time.Time{}, 0},
		{"canceled instead of failed", []billing.Fact{
			b.paid(1, 0, 720), b.refunded(1, 48, 999, true), b.reverted(1, 50, "re_1", 48, 999),
		}, StatusActive, time.Time{}, time.Time{}, 0},
		{"two refunds adding up, one fails", []billing.Fact{
			b.paid(1, 0, 720), b.refunded(1, 48, 400, false), b.refunded(1, 50, 999, true),
			b.reverted(1, 96, "re_1", 48, 400),
		}, StatusActive, time.Time{}, time.Time{}, 599},
		{"the same failure said twice counts once", []billing.Fact{
			b.paid(1, 0, 720), b.refunded(1, 48, 400, false), b.refunded(1, 50, 999, true),
			b.reverted(1, 96, "re_1", 48, 400), b.reverted(1, 97, "re_1", 48, 400),
		}, StatusActive, time.Time{}, time.Time{}, 599},
		{"both refunds fail", []billing.Fact{
			b.paid(1, 0, 720), b.refunded(1, 48, 400, false), b.refunded(1, 50, 999, true),
			b.reverted(1, 96, "re_1", 48, 400), b.reverted(1, 98, "re_2", 50, 599),
		}, StatusActive, time.Time{}, time.Time{}, 0},
		{"a refund made after the failure adds up again: suspended from it", []billing.Fact{
			b.paid(1, 0, 720), b.refunded(1, 48, 999, true), b.reverted(1, 96, "re_1", 48, 999),
			b.refunded(1, 120, 999, true), // Stripe's total after the failure: only the new refund
		}, StatusSuspended, at(120), time.Time{}, 999},
		{"the newest total already left the failed refund out", []billing.Fact{
			b.paid(1, 0, 720), b.refunded(1, 48, 400, false), b.reverted(1, 60, "re_1", 48, 400),
			b.refunded(1, 120, 999, true), // 999 of the second refund alone: all of it
		}, StatusSuspended, at(120), time.Time{}, 999},
		{"a refund that failed in the second it was made", []billing.Fact{
			b.paid(1, 0, 720), b.refunded(1, 48, 999, true), b.reverted(1, 48, "re_1", 48, 999),
		}, StatusActive, time.Time{}, time.Time{}, 0},
		{"a failed refund of an older payment changes nothing", []billing.Fact{
			b.paid(1, 0, 720), b.paid(2, 720, 1440), b.refunded(1, 800, 999, true), b.reverted(1, 900, "re_1", 800, 999),
		}, StatusActive, time.Time{}, time.Time{}, 0},
		{"a failed refund of an older payment does not lift the latest's", []billing.Fact{
			b.paid(1, 0, 720), b.paid(2, 720, 1440), b.refunded(1, 800, 999, true), b.refunded(2, 801, 999, true),
			b.reverted(1, 900, "re_1", 800, 999),
		}, StatusSuspended, at(801), time.Time{}, 0},
		{"a canceled subscription stays canceled", []billing.Fact{
			b.paid(1, 0, 720), b.refunded(1, 48, 999, true),
			b.fact(billing.Canceled, 60, func(f *billing.Fact) { f.Key = "sub_1" }),
			b.reverted(1, 96, "re_1", 48, 999),
		}, StatusCanceled, time.Time{}, at(60).Add(del), 0},
		{"an open dispute still suspends", []billing.Fact{
			b.paid(1, 0, 720), b.refunded(1, 48, 999, true),
			b.fact(billing.Disputed, 70, func(f *billing.Fact) { f.Charge = "ch_1" }),
			b.reverted(1, 96, "re_1", 48, 999),
		}, StatusSuspended, at(70), time.Time{}, 0},
		{"a one-off order refunded, then the refund failed: back", []billing.Fact{
			b.oneOff(), b.refunded(1, 48, 999, true), b.reverted(1, 96, "re_1", 48, 999),
		}, StatusActive, time.Time{}, time.Time{}, 0},
		{"a one-off order refunded again after a failed refund: deleted after the new refund's retention", []billing.Fact{
			b.oneOff(), b.refunded(1, 48, 999, true), b.reverted(1, 96, "re_1", 48, 999), b.refunded(1, 120, 999, true),
		}, StatusRefunded, time.Time{}, at(120).Add(del), 999},
		{"a one-off order whose dispute was lost stays ended", []billing.Fact{
			b.oneOff(), b.refunded(1, 48, 999, true),
			b.fact(billing.Disputed, 70, func(f *billing.Fact) { f.PaymentIntent = "pi_1" }),
			b.fact(billing.DisputeClosed, 90, func(f *billing.Fact) { f.PaymentIntent = "pi_1" }),
			b.reverted(1, 96, "re_1", 48, 999),
		}, StatusRefunded, time.Time{}, at(70).Add(del), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(2, uint64(len(tc.facts))))
			for i := range 50 {
				facts := append([]billing.Fact(nil), tc.facts...)
				if i > 0 {
					rng.Shuffle(len(facts), func(a, b int) { facts[a], facts[b] = facts[b], facts[a] })
				}
				// A charge fact finds its record only once a payment
				// named it (the worker retries it until then).
				slices.SortStableFunc(facts, func(a, b billing.Fact) int { return paidFirst(a) - paidFirst(b) })
				key := "sub_1"
				if tc.facts[0].OneOff {
					key = "cs_1"
				}
				r := &Record{Key: key}
				for _, f := range facts {
					fold(r, f, testPolicy)
				}
				d := r.Desired
				if d.Status != tc.status || !d.SuspendAt.Equal(tc.suspendAt) || !d.DeleteAt.Equal(tc.deleteAt) {
					t.Fatalf("order %d: status %s suspendAt %v deleteAt %v; want %s %v %v",
						i, d.Status, d.SuspendAt, d.DeleteAt, tc.status, tc.suspendAt, tc.deleteAt)
				}
				p := d.paymentOf(billing.Fact{Charge: "ch_1", PaymentIntent: "pi_1"})
				if p == nil || p.Refunded != tc.refunded || p.RefundedAmount() != tc.refunded {
					t.Fatalf("order %d: payment %+v; want %d refunded", i, p, tc.refunded)
				}
				if p.FullRefund && len(p.Reverted) > 0 && p.Refunded < p.Amount {
					t.Fatalf("order %d: payment %+v refunded in full after a refund failed", i, p)
				}
			}
		})
	}
}

// paidFirst orders payments before the charge facts about them.
func paidFirst(f billing.Fact) int {
	if f.Kind == billing.Purchase || f.Kind == billing.Renewal {
		return 0
	}
	return 1
}

// A record written before refunds were kept one by one has Stripe's
// largest running total and no time for it: a refund failing now is taken
// off it, and a newer charge.refunded replaces it.
func TestFoldRefundRevertedOfAnOlderRecord(t *testing.T) {
	t.Parallel()
	var r Record
	err := json.Unmarshal([]byte(`{"format":3,"key":"sub_1","desired":{"plan":{"id":"std","provider":"purevpn"},
		"status":"suspended","purchased":true,"paid_as_of":"2026-01-01T00:00:00Z","subscription":"sub_1",
		"payments":[{"id":"in_1","charge":"ch_1","period_end":"2026-01-31T00:00:00Z","amount":999,
		"refunded":999,"full_refund":true,"void_as_of":"2026-01-03T00:00:00Z"}]}}`), &r)
	if err != nil {
		t.Fatal(err)
	}
	var b refundFacts
	fold(&r, b.reverted(1, 96, "re_1", 48, 999), testPolicy)
	if d := r.Desired; d.Status != StatusActive || !d.SuspendAt.IsZero() || d.Payments[0].Refunded != 0 || !d.Payments[0].VoidAsOf.IsZero() {
		t.Fatalf("after the failure: %+v; want active, nothing refunded", d)
	}
	fold(&r, b.refunded(1, 120, 999, true), testPolicy)
	if d := r.Desired; d.Status != StatusSuspended || !d.SuspendAt.Equal(at(120)) || d.Payments[0].Refunded != 999 {
		t.Fatalf("after a newer refund: %+v; want suspended from it", d)
	}
	// The new fields are stored under their own snake_case names.
	out, err := json.Marshal(r.Desired.Payments[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{`"stripe_refunded":999`, `"stripe_full_refund":true`, `"refunded_as_of":`, `"reverted_refunds":[{"id":"re_1","amount":999,"created":`, `"void_as_of":`} {
		if !strings.Contains(string(out), name) {
			t.Errorf("stored payment %s lacks %s", out, name)
		}
	}
}
