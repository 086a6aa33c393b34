package worker_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
	"github.com/vpnbill/vpnbill/internal/ops"
)

// A partial refund is audited and reported and changes no access; refunds
// adding up to the payment take the period back: the account is suspended.
// The finance report shows what was refunded of the payment.
func TestRefundsEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t)
	now := time.Now().Add(-time.Hour).Truncate(time.Second)
	post := func(payload []byte) { t.Helper(); b.stored(t, payload) }
	report := func() ops.ReportRow {
		t.Helper()
		b.waitSettled(t)
		rep, err := (&ops.Ops{JS: b.js}).Report(context.Background(), now.Add(-time.Hour), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Rows) != 1 {
			t.Fatalf("report rows %+v, want the one payment", rep.Rows)
		}
		return rep.Rows[0]
	}
	sub := stripetest.ID("sub")
	post(stripetest.CheckoutCompleted(stripetest.ID("evt"), now, stripetest.Checkout{
		Subscription: sub, Email: "refund@example.com", Plan: "std-monthly", Paid: true, Amount: 999}))
	post(stripetest.InvoicePaid(stripetest.ID("evt"), now.Add(time.Second), stripetest.Invoice{
		ID: "in_refund1", Subscription: sub, Email: "refund@example.com", Price: "price_std_monthly", BillingReason: "subscription_create",
		PeriodStart: now, PeriodEnd: now.AddDate(0, 1, 0), AmountPaid: 999, Paid: true, Charge: "ch_refund1", PaymentIntent: "pi_refund1"}))
	b.waitSettled(t)

	refund := func(refunded int64, at time.Time) {
		post(stripetest.ChargeRefunded(stripetest.ID("evt"), at, stripetest.Charge{
			ID: "ch_refund1", Invoice: "in_refund1", PaymentIntent: "pi_refund1", Amount: 999, AmountRefunded: refunded}))
	}
	refund(400, now.Add(10*time.Minute))
	if row := report(); row.Status != ops.StatusOK || row.Amount != 999 || row.Refunded != 400 {
		t.Errorf("after a partial refund: %+v; want ok, 999 paid, 400 refunded", row)
	}
	if accts := b.sim.Accounts(); len(accts) != 1 || !accts[0].Enabled {
		t.Fatalf("a partial refund changed access: %+v", accts)
	}

	refund(999, now.Add(20*time.Minute)) // Stripe's running total: now all of it
	if row := report(); row.Refunded != 999 {
		t.Errorf("after refunds adding up: refunded %d, want 999", row.Refunded)
	}
	if accts := b.sim.Accounts(); len(accts) != 1 || accts[0].Enabled {
		t.Errorf("refunds adding up to the payment left the account enabled: %+v", accts)
	}
	if !slices.ContainsFunc(b.mail.Messages(), func(m mailcatcher.Received) bool {
		return slices.Contains(m.To, "refund@example.com") && strings.HasPrefix(m.MessageID, "<suspended.")
	}) {
		t.Error("no suspended email after the refunds added up")
	}
}
