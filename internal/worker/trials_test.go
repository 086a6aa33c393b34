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

// Trials, free orders and payments that need the customer, end to end
// through the webhook and the worker: each one a customer would otherwise
// be failed by.
func TestTrialsFreeOrdersAndPaymentActions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	now := time.Now().Add(-time.Minute).Truncate(time.Second)
	trialEnd := now.AddDate(0, 0, 14)
	post := func(payload []byte) { t.Helper(); b.stored(t, payload) }
	waitMail := func(to, kind string) mailcatcher.Received {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			msgs := b.mail.Messages()
			if i := slices.IndexFunc(msgs, func(m mailcatcher.Received) bool {
				return len(m.To) == 1 && m.To[0] == to && strings.HasPrefix(m.MessageID, "<"+kind+".")
			}); i >= 0 {
				return msgs[i]
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s email to %s in 30 s", kind, to)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// A subscription that starts with a free trial: its checkout needs no
	// payment and its first invoice is of 0. Provisioned at once.
	sub := stripetest.ID("sub")
	post(stripetest.CheckoutCompleted(stripetest.ID("evt"), now, stripetest.Checkout{
		Subscription: sub, Email: "trial@example.com", Plan: "std-monthly", Free: true}))
	post(stripetest.InvoicePaid(stripetest.ID("evt"), now.Add(time.Second), stripetest.Invoice{
		ID: "in_trial", Subscription: sub, Email: "trial@example.com", Price: "price_std_monthly",
		BillingReason: "subscription_create", PeriodStart: now, PeriodEnd: trialEnd, AmountPaid: 0, Paid: true}))
	waitMail("trial@example.com", "welcome")

	// Stripe's notice three days before the trial ends: a reminder naming the day.
	post(stripetest.SubscriptionTrialWillEnd(stripetest.ID("evt"), now.Add(2*time.Second), stripetest.Subscription{
		ID: sub, Price: "price_std_monthly", TrialEnd: trialEnd}))
	reminder := waitMail("trial@example.com", "trial_ending")
	if day := trialEnd.UTC().Format("2 January 2006"); !strings.Contains(reminder.Text, day) {
		t.Errorf("the trial reminder does not name the day it ends (%s):\n%s", day, reminder.Text)
	}

	// The first payment needs the customer to confirm it (3-D Secure).
	const link = "https://invoice.stripe.com/i/acct_1/confirm_2"
	post(stripetest.InvoicePaymentActionRequired(stripetest.ID("evt"), now.Add(3*time.Second), stripetest.Invoice{
		ID: "in_first", Subscription: sub, Price: "price_std_monthly", BillingReason: "subscription_cycle",
		AmountDue: 999, HostedInvoiceURL: link}))
	action := waitMail("trial@example.com", "payment_action")
	if !strings.Contains(action.Text, link) || !strings.Contains(action.Text, "9.99 EUR") {
		t.Errorf("the payment action email lacks the link or the amount:\n%s", action.Text)
	}

	// A free one-off order (a 100% coupon) is provisioned too.
	post(stripetest.CheckoutCompleted(stripetest.ID("evt"), now, stripetest.Checkout{
		Email: "free@example.com", Plan: "std-monthly", Free: true}))
	waitMail("free@example.com", "welcome")
	b.waitSettled(t)

	if n, c := len(b.sim.Accounts()), b.sim.Calls("create"); n != 2 || c != 2 {
		t.Errorf("PureVPN: %d accounts from %d creates, want 2 and 2", n, c)
	}
	// Finance: both are payments of 0, delivered; nothing is "provisioned, not paid".
	rep, err := (&ops.Ops{JS: b.js}).Report(context.Background(), now.Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 2 || rep.Mismatches != 0 {
		t.Fatalf("report: %d rows, %d mismatches, want 2 and 0: %+v", len(rep.Rows), rep.Mismatches, rep.Rows)
	}
	for _, row := range rep.Rows {
		if row.Status != ops.StatusOK || row.Amount != 0 || row.Username == "" {
			t.Errorf("report row %+v: want ok, amount 0, delivered", row)
		}
	}
}
