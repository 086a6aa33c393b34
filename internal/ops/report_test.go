package ops

import (
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

func TestBuildReportCountsEachPaymentOnce(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
	audits := []events.Audit{
		// a subscription's checkout and its first invoice: one payment, the invoice's row
		{ID: "1", Kind: events.AuditFactApplied, Account: "sub_1", StripeType: "checkout.session.completed", StripeCreated: at,
			Subscription: "sub_1", CheckoutSession: "cs_1", Amount: 999, Currency: "eur"},
		{ID: "2", Kind: events.AuditFactApplied, Account: "sub_1", StripeType: "invoice.paid", StripeCreated: at, Subscription: "sub_1",
			Invoice: "in_1", Amount: 999, Currency: "eur"},
		{ID: "2", Kind: events.AuditFactApplied, Account: "sub_1", StripeType: "invoice.paid", StripeCreated: at, Subscription: "sub_1",
			Invoice: "in_1", Amount: 999, Currency: "eur"}, // the same invoice again (a replay)
		{ID: "3", Kind: events.AuditAccountCreated, Account: "sub_1", Time: at, Provider: "purevpn", Username: "pv1", PeriodEnd: at.AddDate(0, 1, 0)},
		{ID: "4", Kind: events.AuditAccountRenewed, Account: "sub_1", Time: at, PeriodEnd: at.AddDate(0, 2, 0)},
		// a one-off order: its checkout is the row
		{ID: "5", Kind: events.AuditFactApplied, Account: "cs_2", StripeType: "checkout.session.completed", StripeCreated: at,
			CheckoutSession: "cs_2", Amount: 2500, Currency: "usd"},
		{ID: "6", Kind: events.AuditAccountCreated, Account: "cs_2", Time: at, Provider: "vpnki", Username: "user101"},
		// a refund carries an amount but is not a payment
		{ID: "7", Kind: events.AuditFactApplied, Account: "cs_2", StripeType: "charge.refunded", StripeCreated: at, Amount: 2500, Currency: "usd"},
	}
	recs := []*provisioning.Record{{Key: "cs_9", RefundDue: true}}
	rep := buildReport(at.AddDate(0, 0, -1), at.AddDate(0, 0, 1), audits, recs)
	if len(rep.Totals) != 2 || rep.Totals[0] != (Total{Currency: "eur", Payments: 1, Amount: 999}) ||
		rep.Totals[1] != (Total{Currency: "usd", Payments: 1, Amount: 2500}) {
		t.Errorf("totals = %+v", rep.Totals)
	}
	if rep.Mismatches != 1 || len(rep.Rows) != 3 {
		t.Fatalf("rows = %+v", rep.Rows)
	}
	for _, r := range rep.Rows {
		switch r.Account {
		case "sub_1":
			if r.Status != StatusOK || r.Username != "pv1" || !r.DeliveredTo.Equal(at.AddDate(0, 2, 0)) {
				t.Errorf("sub_1 row = %+v", r)
			}
		case "cs_9":
			if r.Status != StatusRefundDue {
				t.Errorf("cs_9 row = %+v", r)
			}
		}
	}
}

func TestParseSince(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want Since
		ok   bool
	}{
		{"42", Since{Seq: 42}, true},
		{"2025-03-01T00:00:00Z", Since{Time: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)}, true},
		{"0", Since{}, false},
		{"yesterday", Since{}, false},
	} {
		got, err := ParseSince(tc.in)
		if (err == nil) != tc.ok || !got.Time.Equal(tc.want.Time) || got.Seq != tc.want.Seq {
			t.Errorf("ParseSince(%q) = %+v, %v", tc.in, got, err)
		}
	}
}
