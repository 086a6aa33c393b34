package worker_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
	"github.com/vpnbill/vpnbill/internal/events"
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

// A refund that fails gives the payment back, through the webhook and the
// worker, in the oldest and the newest API version read: the suspension
// the refund caused is lifted (PureVPN: the account is enabled again, the
// customer told it resumed), and the finance report shows nothing
// refunded. A refund still pending changes nothing (skipped).
func TestRefundFailsEndToEnd(t *testing.T) {
	t.Parallel()
	for _, v := range []string{stripetest.DefaultVersion, stripetest.Versions[len(stripetest.Versions)-1]} {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			now := time.Now().Add(-time.Hour).Truncate(time.Second)
			post := func(payload []byte) { t.Helper(); b.stored(t, payload) }
			email := "fails-" + strings.ReplaceAll(v, ".", "-") + "@example.com"
			sub, charge, pi, re := stripetest.ID("sub"), stripetest.ID("ch"), stripetest.ID("pi"), stripetest.ID("re")
			post(stripetest.CheckoutCompleted(stripetest.ID("evt"), now, stripetest.Checkout{
				Subscription: sub, Email: email, Plan: "std-monthly", Paid: true, Amount: 999, Version: v}))
			post(stripetest.InvoicePaid(stripetest.ID("evt"), now.Add(time.Second), stripetest.Invoice{
				ID: "in_" + re, Subscription: sub, Email: email, Price: "price_std_monthly", BillingReason: "subscription_create",
				PeriodStart: now, PeriodEnd: now.AddDate(0, 1, 0), AmountPaid: 999, Paid: true, Charge: charge, PaymentIntent: pi, Version: v}))
			// From basil on the charge names no invoice: Stripe links them.
			post(stripetest.InvoicePaymentPaid(stripetest.ID("evt"), now.Add(2*time.Second), stripetest.InvoicePayment{
				Invoice: "in_" + re, PaymentIntent: pi, Amount: 999, Currency: "eur", Version: v}))
			b.waitSettled(t)

			refundedAt := now.Add(10 * time.Minute)
			post(stripetest.ChargeRefunded(stripetest.ID("evt"), refundedAt, stripetest.Charge{
				ID: charge, Invoice: "in_" + re, PaymentIntent: pi, Amount: 999, AmountRefunded: 999, Version: v}))
			update := func(status string, at time.Time) {
				post(stripetest.ChargeRefundUpdated(stripetest.ID("evt"), at, stripetest.Refund{
					ID: re, Charge: charge, PaymentIntent: pi, Amount: 999, Created: refundedAt, Status: status, Version: v}))
				b.waitSettled(t)
			}
			update("pending", refundedAt.Add(time.Minute))
			if accts := b.sim.Accounts(); len(accts) != 1 || accts[0].Enabled {
				t.Fatalf("after a full refund (still pending): %+v; want the account disabled", accts)
			}

			update("failed", now.Add(20*time.Minute))
			if accts := b.sim.Accounts(); len(accts) != 1 || !accts[0].Enabled {
				t.Errorf("after the refund failed: %+v; want the account enabled again", accts)
			}
			var kinds []string
			for _, m := range b.mail.Messages() {
				if slices.Contains(m.To, email) {
					kind, _, _ := strings.Cut(strings.TrimPrefix(m.MessageID, "<"), ".")
					kinds = append(kinds, kind)
				}
			}
			if !slices.Equal(kinds, []string{"welcome", "suspended", "resumed"}) {
				t.Errorf("emails %v; want welcome, suspended, resumed", kinds)
			}
			var skipped, reverted bool
			for _, a := range b.audits(t) {
				skipped = skipped || (a.Kind == events.AuditFactSkipped && a.StripeType == billing.EventChargeRefundUpdated && strings.Contains(a.Reason, "pending"))
				reverted = reverted || (a.Kind == events.AuditFactApplied && a.StripeType == billing.EventChargeRefundUpdated && a.Account == sub && a.Amount == 999)
			}
			if !skipped || !reverted {
				t.Errorf("audits: pending refund skipped %v, failed refund applied to %s %v; want both", skipped, sub, reverted)
			}
			rep, err := (&ops.Ops{JS: b.js}).Report(context.Background(), now.Add(-time.Hour), time.Now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Rows) != 1 || rep.Rows[0].Status != ops.StatusOK || rep.Rows[0].Amount != 999 || rep.Rows[0].Refunded != 0 {
				t.Errorf("report rows %+v; want the one payment, ok, 999 paid, nothing refunded", rep.Rows)
			}
		})
	}
}
