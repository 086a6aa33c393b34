package worker_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
)

// A customer who changes their email address at Stripe gets every later
// email of each of their subscriptions there, under their new name; an
// older update that arrives late changes nothing; deleting the customer is
// audited on each account.
func TestCustomerChangesTheirAddress(t *testing.T) {
	t.Parallel()
	b := setup(t)
	now := time.Now().Add(-time.Hour).Truncate(time.Second)
	post := func(payload []byte) { t.Helper(); b.stored(t, payload) }
	mailTo := func(addr string) []mailcatcher.Received {
		var out []mailcatcher.Received
		for _, m := range b.mail.Messages() {
			if slices.Contains(m.To, addr) {
				out = append(out, m)
			}
		}
		return out
	}
	const cus = "cus_ChangesAddress1"
	subs := []string{stripetest.ID("sub"), stripetest.ID("sub")}
	for _, sub := range subs {
		post(stripetest.CheckoutCompleted(stripetest.ID("evt"), now, stripetest.Checkout{
			Subscription: sub, Customer: cus, Email: "old@example.com", Name: "Ann Old", Plan: "std-monthly", Paid: true, Amount: 999}))
	}
	b.waitSettled(t)
	if n := len(mailTo("old@example.com")); n != 2 {
		t.Fatalf("%d welcome emails to the first address, want 2", n)
	}

	post(stripetest.CustomerUpdated(stripetest.ID("evt"), now.Add(10*time.Minute), stripetest.Customer{
		ID: cus, Email: "new@example.com", Name: "Ann New"}))
	// An update older than that one, delivered late: changes nothing.
	post(stripetest.CustomerUpdated(stripetest.ID("evt"), now.Add(5*time.Minute), stripetest.Customer{
		ID: cus, Email: "stale@example.com", Name: "Ann Stale"}))
	b.waitSettled(t)

	// Later emails of both subscriptions.
	for i, sub := range subs {
		post(stripetest.InvoicePaymentFailed(stripetest.ID("evt"), now.Add(20*time.Minute), stripetest.Invoice{
			ID: "in_fail" + string(rune('a'+i)), Subscription: sub, Customer: cus, Email: "old@example.com",
			Price: "price_std_monthly", BillingReason: "subscription_cycle", AmountDue: 999}))
	}
	b.waitSettled(t)
	got := mailTo("new@example.com")
	if len(got) != 2 {
		t.Fatalf("%d emails to the new address, want the 2 payment failures", len(got))
	}
	for _, m := range got {
		if !strings.Contains(m.Text, "Ann New") {
			t.Errorf("email to the new address does not greet the new name:\n%s", m.Text)
		}
	}
	if n := len(mailTo("stale@example.com")); n != 0 {
		t.Errorf("%d emails to the address of an older update", n)
	}
	if n := len(mailTo("old@example.com")); n != 2 {
		t.Errorf("%d emails to the old address, want only the 2 welcomes", n)
	}

	// Deleting the customer is audited on each account; a customer vpnbill
	// has no account of is recorded as skipped.
	post(stripetest.CustomerDeleted(stripetest.ID("evt"), now.Add(30*time.Minute), stripetest.Customer{ID: cus}))
	post(stripetest.CustomerUpdated(stripetest.ID("evt"), now.Add(30*time.Minute), stripetest.Customer{ID: "cus_NoAccount1", Email: "x@example.com"}))
	b.waitSettled(t)
	deleted, skipped := map[string]bool{}, 0
	for _, a := range b.audits(t) {
		switch {
		case a.StripeType == "customer.deleted" && a.Kind == events.AuditFactApplied:
			deleted[a.Account] = true
		case a.StripeType == "customer.updated" && a.Kind == events.AuditFactSkipped && a.Customer == "cus_NoAccount1":
			skipped++
		}
	}
	if len(deleted) != 2 || !deleted[subs[0]] || !deleted[subs[1]] {
		t.Errorf("customer.deleted audited on %v, want both subscriptions", deleted)
	}
	if skipped != 1 {
		t.Errorf("the update of a customer without accounts audited as skipped %d times, want 1", skipped)
	}
}
