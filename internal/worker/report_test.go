package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
	"github.com/vpnbill/vpnbill/internal/ops"
)

// The finance report, end to end: customers buy, renew, start a trial,
// buy once in another currency, and get a partial refund, all through the
// webhook and the worker; every row and total comes from the audits the
// worker wrote.
func TestFinanceReportEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t)
	now := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	subA, subC := stripetest.ID("sub"), stripetest.ID("sub")
	invoice := func(id, sub, reason string, from time.Time, paid int64, charge string) stripetest.Invoice {
		return stripetest.Invoice{ID: id, Subscription: sub, Email: sub + "@example.com", Price: "price_std_monthly",
			BillingReason: reason, PeriodStart: from, PeriodEnd: from.AddDate(0, 1, 0), AmountPaid: paid, Paid: true, Charge: charge}
	}
	// A: a subscription, its first invoice and a renewal.
	b.stored(t, stripetest.CheckoutCompleted(stripetest.ID("evt"), now, stripetest.Checkout{
		Subscription: subA, Email: subA + "@example.com", Plan: "std-monthly", Paid: true, Amount: 999}))
	b.stored(t, stripetest.InvoicePaid(stripetest.ID("evt"), now.Add(time.Second), invoice("in_a1", subA, "subscription_create", now, 999, "ch_a1")))
	b.stored(t, stripetest.InvoicePaid(stripetest.ID("evt"), now.Add(time.Hour), invoice("in_a2", subA, "subscription_cycle", now.AddDate(0, 1, 0), 999, "ch_a2")))
	// B: a one-off order in dollars.
	b.stored(t, stripetest.CheckoutCompleted(stripetest.ID("evt"), now.Add(2*time.Hour), stripetest.Checkout{
		ID: "cs_b", Email: "b@example.com", Plan: "sstp-quarterly", Paid: true, Amount: 1500, Currency: "usd"}))
	// C: a subscription that starts with a free trial.
	b.stored(t, stripetest.CheckoutCompleted(stripetest.ID("evt"), now, stripetest.Checkout{
		Subscription: subC, Email: subC + "@example.com", Plan: "std-monthly", Free: true}))
	b.stored(t, stripetest.InvoicePaid(stripetest.ID("evt"), now.Add(time.Second), invoice("in_c1", subC, "subscription_create", now, 0, "")))
	// A's first invoice is refunded in part.
	b.stored(t, stripetest.ChargeRefunded(stripetest.ID("evt"), now.Add(2*time.Hour), stripetest.Charge{
		ID: "ch_a1", Invoice: "in_a1", Amount: 999, AmountRefunded: 400}))
	b.waitSettled(t)

	rep, err := (&ops.Ops{JS: b.js}).Report(context.Background(), now.Add(-time.Minute), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		account  string
		amount   int64
		currency string
		refunded int64
	}{
		"in_a1": {subA, 999, "eur", 400},
		"in_a2": {subA, 999, "eur", 0},
		"cs_b":  {"cs_b", 1500, "usd", 0},
		"in_c1": {subC, 0, "eur", 0},
	}
	for _, row := range rep.Rows {
		ref := row.Invoice
		if ref == "" {
			ref = row.CheckoutSession
		}
		w, ok := want[ref]
		if !ok {
			t.Errorf("unexpected row %+v", row)
			continue
		}
		delete(want, ref)
		if row.Status != ops.StatusOK || row.Account != w.account || row.Amount != w.amount || row.Currency != w.currency ||
			row.Refunded != w.refunded || row.Username == "" || row.PaidTo.IsZero() {
			t.Errorf("row %s = %+v; want ok, account %s, %d %s, refunded %d, delivered", ref, row, w.account, w.amount, w.currency, w.refunded)
		}
	}
	if len(want) != 0 {
		t.Errorf("rows missing: %v", want)
	}
	totals := map[string]ops.Total{}
	for _, tot := range rep.Totals {
		totals[tot.Currency] = tot
	}
	if eur := totals["eur"]; eur.Payments != 3 || eur.Amount != 1998 || eur.Refunded != 400 {
		t.Errorf("EUR total %+v; want 3 payments, 1998, refunded 400", eur)
	}
	if usd := totals["usd"]; usd.Payments != 1 || usd.Amount != 1500 || usd.Refunded != 0 {
		t.Errorf("USD total %+v; want 1 payment, 1500", usd)
	}
	if rep.Mismatches != 0 || len(rep.Totals) != 2 {
		t.Errorf("%d mismatches, %d currencies; want 0 and 2", rep.Mismatches, len(rep.Totals))
	}
}
