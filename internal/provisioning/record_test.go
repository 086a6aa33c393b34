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
