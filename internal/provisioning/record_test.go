package provisioning

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing"
)

var testPolicy = policy{grace: 72 * time.Hour, deleteAfter: 30 * 24 * time.Hour}

func at(h int) time.Time {
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(h) * time.Hour)
}

// The desired state is a function of the set of facts, not of their order.
func TestFoldIsOrderIndependent(t *testing.T) {
	t.Parallel()
	std := billing.Plan{ID: "std", Provider: "purevpn"}
	pro := billing.Plan{ID: "pro", Provider: "purevpn"}
	n := 0
	fact := func(k billing.Kind, h int, mod func(*billing.Fact)) billing.Fact {
		n++
		f := billing.Fact{Kind: k, EventID: fmt.Sprintf("evt_%d", n), Created: at(h), Key: "sub_1", Plan: std}
		if mod != nil {
			mod(&f)
		}
		return f
	}
	cases := []struct {
		name      string
		facts     []billing.Fact
		status    Status
		suspendAt time.Time
		deleteAt  time.Time
		plan      string
	}{
		{"purchase", []billing.Fact{fact(billing.Purchase, 0, nil)}, StatusActive, time.Time{}, time.Time{}, "std"},
		{"past due after purchase", []billing.Fact{
			fact(billing.Purchase, 0, nil),
			fact(billing.SubscriptionState, 5, func(f *billing.Fact) { f.SubStatus = "past_due" }),
			fact(billing.SubscriptionState, 9, func(f *billing.Fact) { f.SubStatus = "unpaid" }),
		}, StatusSuspended, at(5).Add(testPolicy.grace), time.Time{}, "std"},
		{"paid again", []billing.Fact{
			fact(billing.Purchase, 0, nil),
			fact(billing.SubscriptionState, 5, func(f *billing.Fact) { f.SubStatus = "past_due" }),
			fact(billing.Renewal, 7, nil),
			fact(billing.SubscriptionState, 8, func(f *billing.Fact) { f.SubStatus = "active" }),
		}, StatusActive, time.Time{}, time.Time{}, "std"},
		{"a newer price wins", []billing.Fact{
			fact(billing.Purchase, 0, nil),
			fact(billing.SubscriptionState, 3, func(f *billing.Fact) { f.SubStatus, f.Plan = "active", pro }),
		}, StatusActive, time.Time{}, time.Time{}, "pro"},
		{"canceled is final", []billing.Fact{
			fact(billing.Purchase, 0, nil),
			fact(billing.Canceled, 4, nil),
			fact(billing.Renewal, 6, nil),
		}, StatusCanceled, time.Time{}, at(4).Add(testPolicy.deleteAfter), "std"},
		{"a dispute after a cancel is a refund", []billing.Fact{
			fact(billing.Purchase, 0, nil),
			fact(billing.Canceled, 4, nil),
			fact(billing.Disputed, 6, func(f *billing.Fact) { f.Plan = billing.Plan{} }),
		}, StatusRefunded, time.Time{}, at(4).Add(testPolicy.deleteAfter), "std"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(1, uint64(len(tc.facts))))
			for i := range 50 {
				facts := append([]billing.Fact(nil), tc.facts...)
				if i > 0 {
					rng.Shuffle(len(facts), func(a, b int) { facts[a], facts[b] = facts[b], facts[a] })
				}
				r := &Record{Key: "sub_1"}
				for _, f := range facts {
					fold(r, f, testPolicy)
					fold(r, f, testPolicy) // a redelivery
				}
				d := r.Desired
				if d.Status != tc.status || !d.SuspendAt.Equal(tc.suspendAt) || !d.DeleteAt.Equal(tc.deleteAt) || d.Plan.ID != tc.plan {
					t.Fatalf("order %d: status %s suspendAt %v deleteAt %v plan %s; want %s %v %v %s",
						i, d.Status, d.SuspendAt, d.DeleteAt, d.Plan.ID, tc.status, tc.suspendAt, tc.deleteAt, tc.plan)
				}
			}
		})
	}
}

// Cancel at period end owes one "your plan ends" notice per date; undoing
// the cancellation drops a notice not yet sent. The newest unpaid invoice's
// link is kept for the suspension email.
func TestFoldEndingNoticeAndPayLink(t *testing.T) {
	t.Parallel()
	std := billing.Plan{ID: "std", Provider: "purevpn"}
	r := &Record{Key: "sub_1"}
	r.Desired.Email = "ann@example.com"
	n := 0
	fact := func(k billing.Kind, h int, mod func(*billing.Fact)) billing.Fact {
		n++
		f := billing.Fact{Kind: k, EventID: fmt.Sprintf("evt_%d", n), Created: at(h), Key: "sub_1", Plan: std}
		if mod != nil {
			mod(&f)
		}
		return f
	}
	ending := func() []string {
		var ids []string
		for _, m := range r.Mail {
			if m.Kind == "ending" {
				ids = append(ids, m.ID)
			}
		}
		return ids
	}
	fold(r, fact(billing.Purchase, 0, nil), testPolicy)
	fold(r, fact(billing.SubscriptionState, 5, func(f *billing.Fact) {
		f.SubStatus, f.CancelAtPeriodEnd, f.CurrentPeriodEnd = "active", true, at(720)
	}), testPolicy)
	if got := ending(); len(got) != 1 || got[0] != fmt.Sprintf("ending.%d", at(720).Unix()) {
		t.Fatalf("ending notices %v, want one for the period end", got)
	}
	// The same update again, and an older one without the cancellation: no change.
	fold(r, fact(billing.SubscriptionState, 4, func(f *billing.Fact) { f.SubStatus = "active" }), testPolicy)
	if got := ending(); len(got) != 1 {
		t.Fatalf("an older update changed the notices: %v", got)
	}
	// Undone before it was sent: the notice goes.
	fold(r, fact(billing.SubscriptionState, 6, func(f *billing.Fact) { f.SubStatus = "active" }), testPolicy)
	if got := ending(); len(got) != 0 {
		t.Fatalf("ending notices %v after the cancellation was undone, want none", got)
	}

	fold(r, fact(billing.PaymentFailed, 10, func(f *billing.Fact) { f.Invoice, f.InvoiceURL = "in_2", "https://pay.example/in_2" }), testPolicy)
	fold(r, fact(billing.PaymentFailed, 8, func(f *billing.Fact) { f.Invoice, f.InvoiceURL = "in_1", "https://pay.example/in_1" }), testPolicy)
	if r.Desired.PayURL != "https://pay.example/in_2" {
		t.Errorf("pay link %q, want the newest unpaid invoice's", r.Desired.PayURL)
	}
	if m := transitionEmail(r, false); m.Kind != "suspended" || m.InvoiceURL != "https://pay.example/in_2" {
		t.Errorf("suspension email %+v, want the pay link", m)
	}
}
