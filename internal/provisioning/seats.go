package provisioning

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing"
)

// Seats. A subscription item with quantity N buys N accounts. The record
// of the subscription (or one-off order) is the first seat; every further
// seat is a record of its own, under SeatKey, with its own account, lease,
// steps, timer and emails, driven by the same step machine. Facts are
// folded into the first record only: it keeps the seats (Desired.Seats),
// and each further seat's desired state is copied from it (seatDesired)
// after every fold, so all seats follow the subscription's status.
//
//   - Quantity up: new seats are appended, and their accounts created.
//   - Quantity down: the newest seats are removed: disabled at once and
//     deleted after the retention (DELETE_AFTER), like a cancellation. A
//     removed seat is never used again; a later quantity up adds new ones.
//   - Several VPN plan items: a seat per unit of each, the first record's
//     seat being the first item's. When items change plan, a seat whose
//     plan is no longer bought takes a plan still wanted (a plan change of
//     that seat) before any seat is removed.
//
// The seats change only with the newest fact that states the items (by
// Stripe's created time); a fact that does not say them (a checkout whose
// metadata names the plan) leaves them as they are.

// Seat is a seat beyond the first.
type Seat struct {
	Plan PlanSnapshot `json:"plan"`
	// Removed: no longer paid for (the quantity went down); DeleteAt: when
	// its account is deleted.
	Removed  bool      `json:"removed,omitempty"`
	DeleteAt time.Time `json:"delete_at,omitzero"`
}

// MaxSeats bounds the seats of one subscription or order; more is a
// configuration the operator must look at (the translator dead-letters it).
const MaxSeats = billing.MaxSeats

// SeatKey is the record key of seat n (2 and up) of the record root.
func SeatKey(root string, n int) string { return fmt.Sprintf("%s-seat%d", root, n) }

// SeatOf reads a record key: the first record's key and the seat number
// (1 for a first record).
func SeatOf(key string) (root string, n int) {
	if i := strings.LastIndex(key, "-seat"); i > 0 {
		if n, err := strconv.Atoi(key[i+len("-seat"):]); err == nil && n >= 2 {
			return key[:i], n
		}
	}
	return key, 1
}

// SeatKeys lists the keys of r's further seats, removed ones included.
func (r *Record) SeatKeys() []string {
	keys := make([]string, len(r.Desired.Seats))
	for i := range r.Desired.Seats {
		keys[i] = SeatKey(r.Key, i+2)
	}
	return keys
}

// setSeats takes the seats items buy, if f is the newest fact that says.
func setSeats(d *Desired, f billing.Fact, pol policy) {
	if len(f.Items) == 0 || !f.Created.After(d.SeatsAsOf) && !d.SeatsAsOf.IsZero() {
		return
	}
	d.SeatsAsOf = f.Created
	want := map[string]int{}
	plans := map[string]PlanSnapshot{}
	var order []string
	for _, it := range f.Items {
		if _, ok := want[it.Plan.ID]; !ok {
			order = append(order, it.Plan.ID)
		}
		want[it.Plan.ID] += it.Seats
		plans[it.Plan.ID] = SnapshotOf(it.Plan)
	}
	// The first record is the first seat, of its own plan if still bought.
	if want[d.Plan.ID] > 0 {
		want[d.Plan.ID]--
	} else {
		want[order[0]]--
	}
	wanted := func() string {
		for _, id := range order {
			if want[id] > 0 {
				return id
			}
		}
		return ""
	}
	var free []int
	for i := range d.Seats {
		s := &d.Seats[i]
		switch {
		case s.Removed:
		case want[s.Plan.ID] > 0:
			want[s.Plan.ID]--
		default:
			free = append(free, i)
		}
	}
	// The oldest seats whose plan is no longer bought take the plans still
	// wanted; the newest are removed.
	for _, i := range free {
		if id := wanted(); id != "" {
			want[id]--
			d.Seats[i].Plan = plans[id]
			continue
		}
		d.Seats[i].Removed, d.Seats[i].DeleteAt = true, f.Created.Add(pol.deleteAfter)
	}
	for id := wanted(); id != ""; id = wanted() {
		want[id]--
		d.Seats = append(d.Seats, Seat{Plan: plans[id]})
	}
	d.SeatCount = 1
	for _, s := range d.Seats {
		if !s.Removed {
			d.SeatCount++
		}
	}
}

// seatDesired is the desired state of seat n (2 and up) of root: the
// subscription's, with the seat's plan; a removed seat ends.
func seatDesired(root *Record, n int) Desired {
	d := root.Desired
	s := root.Desired.Seats[n-2]
	d.Payments, d.Dunning, d.Seats = nil, nil, nil
	d.Plan, d.Seat, d.SeatOf, d.SeatRemoved = s.Plan, n, root.Key, s.Removed
	if s.Removed {
		if !d.Status.Final() || s.DeleteAt.Before(d.DeleteAt) {
			d.DeleteAt = s.DeleteAt
		}
		if !d.Status.Final() {
			d.Status = StatusCanceled
		}
		d.SuspendAt = time.Time{}
	}
	return d
}

// propagateSeats copies root's desired state to each of its further seats
// whose copy is older, and returns their keys. A seat that ended on its
// own stays ended: an operator gave it up (a removed seat's copy says so
// itself). One that ended with the subscription follows it (a one-off
// order whose refund failed comes back, every seat with it).
func (s *Service) propagateSeats(ctx context.Context, root *Record) ([]string, error) {
	keys := root.SeatKeys()
	var errs []error
	for i, key := range keys {
		want := seatDesired(root, i+2)
		_, _, err := s.store.Update(ctx, key, func(r *Record) error {
			if r.Desired.SeatOf == root.Key && r.Desired.Version >= want.Version {
				return errNoChange
			}
			was := r.Desired
			r.Desired = want
			if r.RefundDue && was.Status.Final() && !want.Status.Final() {
				r.Desired.Status, r.Desired.DeleteAt = was.Status, was.DeleteAt
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("seat %s: %w", key, err))
		}
	}
	return keys, errors.Join(errs...)
}
