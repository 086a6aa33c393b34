package provisioning

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/vpnbill/vpnbill/internal/billing"
)

// The seats a subscription's facts give, rule by rule, and what each
// further seat's record is told to be.
func TestSeats(t *testing.T) {
	t.Parallel()
	std := billing.Plan{ID: "std", Provider: "purevpn"}
	pro := billing.Plan{ID: "pro", Provider: "purevpn", PackageType: "HIGH-BW"}
	tun := billing.Plan{ID: "tun", Provider: "vpnki", PeriodDays: 30}
	items := func(pairs ...any) []billing.Item {
		var out []billing.Item
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, billing.Item{Plan: pairs[i].(billing.Plan), Seats: pairs[i+1].(int)})
		}
		return out
	}
	// seat renders a seat as "plan" or "plan-removed".
	type want []string
	cases := []struct {
		name  string
		steps [][]billing.Item // one fact per step, an hour apart; nil: a fact that does not say the items
		seats want             // the further seats, in order
		count int              // seats paid for
	}{
		{"one seat", [][]billing.Item{items(std, 1)}, nil, 1},
		{"the items unsaid: one seat", [][]billing.Item{nil}, nil, 0},
		{"quantity 3", [][]billing.Item{items(std, 3)}, want{"std", "std"}, 3},
		{"1 → 3 → 2: the newest seat is removed", [][]billing.Item{items(std, 1), items(std, 3), items(std, 2)}, want{"std", "std-removed"}, 2},
		{"3 → 1 → 2: a removed seat is not used again", [][]billing.Item{items(std, 3), items(std, 1), items(std, 2)},
			want{"std-removed", "std-removed", "std"}, 2},
		{"a fact that does not say the items keeps them", [][]billing.Item{items(std, 3), nil}, want{"std", "std"}, 3},
		{"two plans", [][]billing.Item{items(std, 2, tun, 2)}, want{"std", "tun", "tun"}, 4},
		{"a plan change of every seat keeps the seats", [][]billing.Item{items(std, 3), items(pro, 3)}, want{"pro", "pro"}, 3},
		{"one item's quantity down: that plan's seat is removed", [][]billing.Item{items(std, 2, tun, 2), items(std, 1, tun, 2)},
			want{"std-removed", "tun", "tun"}, 3},
		{"one item down, another up: the seat changes plan", [][]billing.Item{items(std, 2, tun, 2), items(std, 1, tun, 3)},
			want{"tun", "tun", "tun"}, 4},
		{"an item removed: its seat is removed, the others keep their plans",
			[][]billing.Item{items(std, 1, tun, 1, pro, 2), items(std, 1, pro, 2)}, want{"tun-removed", "pro", "pro"}, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &Record{Key: "sub_1"}
			for i, it := range tc.steps {
				f := billing.Fact{Kind: billing.Renewal, EventID: fmt.Sprintf("evt_%d", i), Created: at(i), Key: "sub_1",
					Plan: std, Items: it, Invoice: fmt.Sprintf("in_%d", i), PeriodEnd: at(720 + i)}
				if len(it) > 0 {
					f.Plan = it[0].Plan
				}
				if i == 0 {
					f.Kind = billing.Purchase
				}
				fold(r, f, testPolicy)
			}
			var got want
			for _, s := range r.Desired.Seats {
				g := s.Plan.ID
				if s.Removed {
					g += "-removed"
				}
				got = append(got, g)
			}
			if !reflect.DeepEqual(got, tc.seats) || r.Desired.SeatCount != tc.count {
				t.Errorf("seats %v (%d paid), want %v (%d)", got, r.Desired.SeatCount, tc.seats, tc.count)
			}
			for i, s := range r.Desired.Seats {
				d := seatDesired(r, i+2)
				switch {
				case d.Plan != s.Plan || d.Seat != i+2 || d.SeatOf != "sub_1":
					t.Errorf("seat %d: plan %s, seat %d of %q", i+2, d.Plan.ID, d.Seat, d.SeatOf)
				case s.Removed && (d.Status != StatusCanceled || !d.DeleteAt.Equal(s.DeleteAt) || !d.SeatRemoved):
					t.Errorf("removed seat %d: %s until %s", i+2, d.Status, d.DeleteAt)
				case !s.Removed && (d.Status != r.Desired.Status || !d.PaidThrough.Equal(r.Desired.PaidThrough)):
					t.Errorf("seat %d: %s through %s; the subscription is %s through %s", i+2, d.Status, d.PaidThrough,
						r.Desired.Status, r.Desired.PaidThrough)
				}
			}
		})
	}
}

// Every further seat follows the subscription's status: suspended,
// resumed, canceled; a removed seat stays ended.
func TestSeatsFollowTheSubscription(t *testing.T) {
	t.Parallel()
	std := billing.Plan{ID: "std", Provider: "purevpn"}
	r := &Record{Key: "sub_1"}
	fold(r, billing.Fact{Kind: billing.Purchase, EventID: "evt_1", Created: at(0), Key: "sub_1", Plan: std,
		Items: []billing.Item{{Plan: std, Seats: 3}}, Invoice: "in_1", PeriodEnd: at(720)}, testPolicy)
	fold(r, billing.Fact{Kind: billing.SubscriptionState, EventID: "evt_2", Created: at(1), Key: "sub_1", Plan: std,
		Items: []billing.Item{{Plan: std, Seats: 2}}, SubStatus: "past_due"}, testPolicy)
	if d := seatDesired(r, 2); d.Status != StatusSuspended || !d.SuspendAt.Equal(r.Desired.SuspendAt) {
		t.Errorf("seat 2 %s at %s, want suspended with the subscription at %s", d.Status, d.SuspendAt, r.Desired.SuspendAt)
	}
	if d := seatDesired(r, 3); d.Status != StatusCanceled || !d.DeleteAt.Equal(at(1).Add(testPolicy.deleteAfter)) {
		t.Errorf("removed seat 3 %s until %s", d.Status, d.DeleteAt)
	}
	fold(r, billing.Fact{Kind: billing.Canceled, EventID: "evt_3", Created: at(2), Key: "sub_1"}, testPolicy)
	for n := 2; n <= 3; n++ {
		if d := seatDesired(r, n); d.Status != StatusCanceled || !d.DeleteAt.Equal(at(1).Add(testPolicy.deleteAfter)) && n == 3 {
			t.Errorf("seat %d %s until %s after the cancellation", n, d.Status, d.DeleteAt)
		}
	}
	if r.Desired.Version != 3 {
		t.Errorf("version %d after three facts", r.Desired.Version)
	}
}

func TestSeatKeys(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"sub_1", "cs_test_a1", "sub_1-seat1"} {
		if root, n := SeatOf(key); root != key || n != 1 {
			t.Errorf("SeatOf(%s) = %s, %d", key, root, n)
		}
	}
	if root, n := SeatOf(SeatKey("sub_1", 12)); root != "sub_1" || n != 12 {
		t.Errorf("SeatOf(SeatKey(sub_1, 12)) = %s, %d", root, n)
	}
	if !validKey.MatchString(SeatKey("sub_1MowQVLkdIwHu7ixeRlqHVzs", MaxSeats)) {
		t.Error("a seat key is not a valid record key")
	}
}
