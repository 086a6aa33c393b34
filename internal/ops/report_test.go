package ops

import (
	"slices"
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
	if len(rep.Totals) != 2 || rep.Totals[0] != (Total{Mode: "test", Currency: "eur", Payments: 1, Amount: 999}) ||
		rep.Totals[1] != (Total{Mode: "test", Currency: "usd", Payments: 1, Amount: 2500}) {
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

// A live deployment's report never sums a test-mode payment with live
// ones, even of the same currency on the same day: each row names its
// mode, totals are per mode and currency, and a report of one mode holds
// only that mode's rows, totals and mismatches.
func TestBuildReportNeverMixesModes(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
	pay := func(id, account, invoice string, amount int64, currency string, live bool, seats int) events.Audit {
		return events.Audit{ID: id, Kind: events.AuditFactApplied, Account: account, StripeType: "invoice.paid", StripeCreated: at,
			Subscription: account, Invoice: invoice, Amount: amount, Currency: currency, Livemode: live, Seats: seats}
	}
	created := func(id, account string) events.Audit {
		return events.Audit{ID: id, Kind: events.AuditAccountCreated, Account: account, Time: at, Provider: "purevpn", Username: "pv_" + account}
	}
	audits := []events.Audit{
		pay("1", "sub_live1", "in_live1", 999, "eur", true, 3), created("2", "sub_live1"),
		created("2b", provisioning.SeatKey("sub_live1", 2)), created("2c", provisioning.SeatKey("sub_live1", 3)),
		pay("3", "sub_live2", "in_live2", 1999, "eur", true, 0), created("4", "sub_live2"),
		pay("5", "sub_test1", "in_test1", 500, "eur", false, 1), created("6", "sub_test1"),
		pay("7", "sub_test2", "in_test2", 700, "usd", false, 0), // paid, never provisioned
		created("8", "sub_livex"),                               // provisioned, never paid
	}
	recs := []*provisioning.Record{
		{Key: "sub_live1", Desired: provisioning.Desired{Livemode: true}},
		{Key: "sub_livex", Desired: provisioning.Desired{Livemode: true}},
		{Key: "sub_test1"},
		{Key: "cs_testdue", RefundDue: true},
	}
	rep := buildReport(at.AddDate(0, 0, -1), at.AddDate(0, 0, 1), audits, recs)
	wantTotals := []Total{
		{Mode: "live", Currency: "eur", Payments: 2, Amount: 999 + 1999},
		{Mode: "test", Currency: "eur", Payments: 1, Amount: 500},
		{Mode: "test", Currency: "usd", Payments: 1, Amount: 700},
	}
	if !slices.Equal(rep.Totals, wantTotals) {
		t.Errorf("totals %+v; want %+v", rep.Totals, wantTotals)
	}
	wantRows := map[string]struct {
		status, mode string
		seats        int
	}{
		"sub_live1": {StatusOK, "live", 3}, "sub_live2": {StatusOK, "live", 0}, "sub_test1": {StatusOK, "test", 1},
		"sub_test2": {StatusPaidNotProvisioned, "test", 0}, "sub_livex": {StatusProvisionedNotPaid, "live", 0},
		"cs_testdue": {StatusRefundDue, "test", 0},
	}
	if len(rep.Rows) != len(wantRows) || rep.Mismatches != 3 {
		t.Fatalf("%d rows, %d mismatches; want %d, 3: %+v", len(rep.Rows), rep.Mismatches, len(wantRows), rep.Rows)
	}
	for _, r := range rep.Rows {
		if w := wantRows[r.Account]; r.Status != w.status || r.Mode != w.mode || r.Seats != w.seats {
			t.Errorf("row of %s: %s, mode %q, %d seats; want %s, %s, %d", r.Account, r.Status, r.Mode, r.Seats, w.status, w.mode, w.seats)
		}
	}

	live := rep.Only("live")
	if live.Mode != "live" || !slices.Equal(live.Totals, wantTotals[:1]) || live.Mismatches != 1 || len(live.Rows) != 3 {
		t.Errorf("live report: mode %q, totals %+v, %d mismatches, rows %+v; want live, the live EUR total, 1, 3 rows",
			live.Mode, live.Totals, live.Mismatches, live.Rows)
	}
	test := rep.Only("test")
	if !slices.Equal(test.Totals, wantTotals[1:]) || test.Mismatches != 2 || len(test.Rows) != 3 {
		t.Errorf("test report: totals %+v, %d mismatches, rows %+v; want the test totals, 2, 3 rows", test.Totals, test.Mismatches, test.Rows)
	}
	for _, r := range append(live.Rows, test.Rows...) {
		if r.Mode != "live" && r.Mode != "test" {
			t.Errorf("row of %s has no mode", r.Account)
		}
	}
	for _, r := range live.Rows {
		if r.Mode != "live" {
			t.Errorf("the live report holds %s's %s row", r.Account, r.Mode)
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

// A payment for N seats is ok once N accounts were made for its
// subscription, its further seats' included; a further seat's account is
// never "provisioned, not paid".
func TestBuildReportSeats(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
	paid := func(id, sub, invoice string, seats int) events.Audit {
		return events.Audit{ID: id, Kind: events.AuditFactApplied, Account: sub, StripeType: "invoice.paid", StripeCreated: at,
			Subscription: sub, Invoice: invoice, Amount: 999 * int64(seats), Currency: "eur", Seats: seats}
	}
	made := func(id, account string) events.Audit {
		return events.Audit{ID: id, Kind: events.AuditAccountCreated, Account: account, Time: at, Provider: "purevpn", Username: "pv_" + id}
	}
	audits := []events.Audit{
		paid("1", "sub_full", "in_full", 3), made("2", "sub_full"), made("3", provisioning.SeatKey("sub_full", 2)),
		made("4", provisioning.SeatKey("sub_full", 3)),
		paid("5", "sub_short", "in_short", 3), made("6", "sub_short"), made("7", provisioning.SeatKey("sub_short", 2)),
	}
	rep := buildReport(at.AddDate(0, 0, -1), at.AddDate(0, 0, 1), audits, nil)
	got := map[string]string{}
	for _, r := range rep.Rows {
		got[r.Account] += r.Status + " "
	}
	want := map[string]string{"sub_full": StatusOK + " ", "sub_short": StatusPaidNotProvisioned + " "}
	if len(got) != len(want) || got["sub_full"] != want["sub_full"] || got["sub_short"] != want["sub_short"] {
		t.Errorf("rows by account %v, want %v", got, want)
	}
	for _, r := range rep.Rows {
		if r.Seats != 3 {
			t.Errorf("row %s: %d seats, want 3", r.Account, r.Seats)
		}
	}
}
