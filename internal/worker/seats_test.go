package worker_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
	"github.com/vpnbill/vpnbill/internal/ops"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

// A subscription of quantity 3 gives three accounts, each emailed with its
// own credentials; quantity 2 removes the newest seat (disabled, the
// customer told); the operator sees every seat. Stripe's two purchase
// events arrive at once, each twice.
func TestSeatsEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t)
	now := time.Now().Add(-time.Hour).Truncate(time.Second)
	sub, email := stripetest.ID("sub"), "team@example.com"
	checkout := stripetest.CheckoutCompleted(stripetest.ID("evt"), now, stripetest.Checkout{
		Subscription: sub, Email: email, Plan: "std-monthly", Paid: true, Amount: 2997})
	invoice := stripetest.InvoicePaid(stripetest.ID("evt"), now.Add(time.Second), stripetest.Invoice{
		ID: "in_seats1", Subscription: sub, Email: email, Price: "price_std_monthly", Quantity: 3, BillingReason: "subscription_create",
		PeriodStart: now, PeriodEnd: now.AddDate(0, 1, 0), AmountPaid: 2997, Paid: true, Charge: "ch_seats1"})
	var wg sync.WaitGroup
	for _, p := range [][]byte{checkout, invoice, checkout, invoice} {
		wg.Go(func() { b.stored(t, p) })
	}
	wg.Wait()
	b.waitSettled(t)

	mails := func(prefix string) []mailcatcher.Received {
		return slices.DeleteFunc(b.mail.Messages(), func(m mailcatcher.Received) bool {
			return !slices.Contains(m.To, email) || !strings.HasPrefix(m.MessageID, prefix)
		})
	}
	welcomes := eventually(t, func() []mailcatcher.Received { return mails("<welcome.") }, 3)
	accts := b.sim.Accounts()
	if len(accts) != 3 {
		t.Fatalf("accounts at PureVPN %d, want 3 (one per seat)", len(accts))
	}
	for _, a := range accts {
		n := 0
		for _, m := range welcomes {
			if strings.Contains(m.Text, a.Username) && strings.Contains(m.Text, a.Password) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("account %s is in %d welcome emails, want 1 with its password", a.Username, n)
		}
	}
	// Seats 2 and 3 exist once the invoice said 3; the first seat's
	// welcome may have gone out on the checkout alone, before anyone
	// knew there would be more seats, and then names none.
	for seat := 2; seat <= 3; seat++ {
		if !slices.ContainsFunc(welcomes, func(m mailcatcher.Received) bool { return strings.Contains(m.Text, seatLine(seat, 3)) }) {
			t.Errorf("no welcome email says %q", seatLine(seat, 3))
		}
	}

	// The customer lowers the quantity to 2.
	b.stored(t, stripetest.SubscriptionUpdated(stripetest.ID("evt"), now.Add(time.Minute), stripetest.Subscription{
		ID: sub, Customer: "cus_seats", Price: "price_std_monthly", Quantity: 2, CurrentPeriodStart: now, CurrentPeriodEnd: now.AddDate(0, 1, 0)}))
	b.waitSettled(t)
	eventually(t, func() []mailcatcher.Received { return mails("<seat_removed.") }, 1)
	enabled := 0
	for _, a := range b.sim.Accounts() {
		if a.Enabled {
			enabled++
		}
	}
	if enabled != 2 || len(b.sim.Accounts()) != 3 {
		t.Errorf("after quantity 2: %d accounts, %d enabled; want 3 kept, 2 enabled", len(b.sim.Accounts()), enabled)
	}
	if n := len(mails("<suspended.")) + len(mails("<canceled.")); n != 0 {
		t.Errorf("%d suspended or canceled emails for a removed seat; the customer is told of the seat only", n)
	}

	seats, err := (&ops.Ops{JS: b.js}).Accounts(context.Background(), sub)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range seats {
		got = append(got, a.Key+" "+a.Desired.Status)
		if a.Seats != 2 || a.Actual.Username == "" {
			t.Errorf("seat %s: %d seats paid, username %q", a.Key, a.Seats, a.Actual.Username)
		}
	}
	want := []string{sub + " active", provisioning.SeatKey(sub, 2) + " active", provisioning.SeatKey(sub, 3) + " canceled"}
	if !slices.Equal(got, want) {
		t.Errorf("accounts show %s: %v, want %v", sub, got, want)
	}
}

// seatLine is what a credentials email of seat n of total says.
func seatLine(n, total int) string {
	return fmt.Sprintf("seat %d of %d", n, total)
}

// eventually waits up to 20 s for get to return n items, and returns them.
func eventually[T any](t *testing.T, get func() []T, n int) []T {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := get()
		if len(got) == n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d, want %d", len(got), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
