package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap/zaptest"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
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

// reportBundle is an embedded JetStream with vpnbill's streams and an Ops
// over it, for the report's reads.
type reportBundle struct {
	ops  *Ops
	js   jetstream.JetStream
	topo *events.Topology
}

func setupReport(t *testing.T) *reportBundle {
	t.Helper()
	srv := harness.NATS(t)
	_, js := harness.Connect(t, srv, t.Name())
	topo := harness.Topology(t, js, events.Config{})
	return &reportBundle{ops: &Ops{JS: js, Log: zaptest.NewLogger(t)}, js: js, topo: topo}
}

func (b *reportBundle) audit(t *testing.T, a events.Audit) {
	t.Helper()
	if err := events.PublishAudit(context.Background(), b.js, a); err != nil {
		t.Fatal(err)
	}
}

// poison stores, under the subject of applied facts, an audit no release
// can read.
func (b *reportBundle) poison(t *testing.T) {
	t.Helper()
	if _, err := b.js.Publish(context.Background(), events.AuditSubject(events.AuditFactApplied), []byte(`{"v":1,"kind":`)); err != nil {
		t.Fatal(err)
	}
}

func (b *reportBundle) record(t *testing.T, r *provisioning.Record) {
	t.Helper()
	r.Format = provisioning.FormatVersion
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.topo.Accounts.Put(context.Background(), r.Key, data); err != nil {
		t.Fatal(err)
	}
}

// paidAudit is the audit of an applied invoice.paid of subscription sub.
func paidAudit(sub, invoice string, at time.Time) events.Audit {
	return events.Audit{ID: "fact.applied:" + sub + ":evt_" + invoice, Kind: events.AuditFactApplied, Time: at, Account: sub,
		StripeEvent: "evt_" + invoice, StripeType: "invoice.paid", StripeCreated: at, Subscription: sub, Invoice: invoice,
		Amount: 999, Currency: "eur", Plan: "std-monthly", PeriodStart: at, PeriodEnd: at.AddDate(0, 1, 0)}
}

func createdAudit(account, username string, at time.Time) events.Audit {
	return events.Audit{ID: "account.created:" + account + ":1", Kind: events.AuditAccountCreated, Time: at, Account: account,
		Provider: "purevpn", Username: username, PeriodStart: at, PeriodEnd: at.AddDate(0, 1, 0)}
}

// The report of a range reads that range's audits and no others: once the
// audits stored before it were examined (by the previous report), it
// decodes only the audits stored in its window, never the history before
// it or the traffic after it — which here holds audits no release can read,
// on which a read of the whole trail would fail.
func TestReportReadsOnlyItsRange(t *testing.T) {
	t.Parallel()
	b := setupReport(t)
	// The late rule, shrunk so that the test's seconds are its days.
	rule := LateRule{After: 300 * time.Millisecond, Early: 300 * time.Millisecond}
	settle := func() { time.Sleep(2 * rule.After) }

	for i := range 40 { // history
		b.audit(t, paidAudit(fmt.Sprintf("sub_old%d", i), fmt.Sprintf("in_old%d", i), time.Now()))
	}
	b.poison(t)
	settle()
	from := time.Now()
	for i := range 3 { // the range: three payments, two delivered
		sub := fmt.Sprintf("sub_%d", i)
		b.audit(t, paidAudit(sub, "in_"+sub, time.Now()))
		if i < 2 {
			b.audit(t, createdAudit(sub, "pv"+sub, time.Now()))
		}
	}
	to := time.Now().Add(time.Millisecond)
	settle()
	for i := range 40 { // later traffic
		b.audit(t, paidAudit(fmt.Sprintf("sub_new%d", i), fmt.Sprintf("in_new%d", i), time.Now()))
	}
	b.poison(t)

	check := func(rep Report) {
		t.Helper()
		got := map[string]string{}
		for _, r := range rep.Rows {
			got[r.Account] = r.Status
		}
		want := map[string]string{"sub_0": StatusOK, "sub_1": StatusOK, "sub_2": StatusPaidNotProvisioned}
		if len(got) != len(want) || got["sub_0"] != want["sub_0"] || got["sub_1"] != want["sub_1"] || got["sub_2"] != want["sub_2"] {
			t.Errorf("rows %v; want %v", got, want)
		}
		if len(rep.Totals) != 1 || rep.Totals[0].Payments != 3 || rep.Totals[0].Amount != 3*999 {
			t.Errorf("totals %+v; want 3 payments of 9.99", rep.Totals)
		}
	}
	// The first report examines what no report has yet: all of it, once,
	// leaving out what it cannot read outside its window.
	rep, st, err := b.ops.ReportWith(context.Background(), from, to, rule)
	if err != nil {
		t.Fatalf("first report: %v", err)
	}
	check(rep)
	if st.CaughtUp != 40+5+40 || st.Copied != 0 {
		t.Errorf("first report: %+v; want the 85 readable audits examined, none late", st)
	}
	// The next reads its window alone.
	rep, st, err = b.ops.ReportWith(context.Background(), from, to, rule)
	if err != nil {
		t.Fatalf("second report: %v", err)
	}
	check(rep)
	if st != (ReportStats{Window: 5}) {
		t.Errorf("second report read %+v; want the range's 5 audits alone", st)
	}
	// A report whose window holds an audit it cannot read fails: that
	// audit may be one of its payments.
	if _, _, err := b.ops.ReportWith(context.Background(), to, time.Now(), rule); err == nil {
		t.Error("a report over an unreadable audit succeeded")
	}
}

// An audit stored long after the time it records (a dead letter replayed
// months later) or before it (clocks apart) is in the report of the range
// of that time, read from its copy in AUDIT_LATE, once.
func TestReportFindsLateAudits(t *testing.T) {
	t.Parallel()
	b := setupReport(t)
	march := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	b.audit(t, paidAudit("sub_late", "in_late", march))
	b.audit(t, createdAudit("sub_late", "pvLate", march.Add(time.Minute)))
	b.audit(t, paidAudit("sub_feb", "in_feb", march.AddDate(0, -1, 0)))
	future := time.Now().Add(48 * time.Hour)
	b.audit(t, paidAudit("sub_future", "in_future", future))
	b.audit(t, paidAudit("sub_now", "in_now", time.Now()))

	// The first report finds them examining the trail (and copies them);
	// the next reads their copies alone.
	for i := range 2 {
		rep, st, err := b.ops.ReportWith(context.Background(), time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC), DefaultLateRule())
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Rows) != 1 || rep.Rows[0].Account != "sub_late" || rep.Rows[0].Status != StatusOK || rep.Rows[0].Username != "pvLate" {
			t.Errorf("March 2025, report %d: rows %+v; want sub_late's, delivered", i+1, rep.Rows)
		}
		if want := (ReportStats{Late: 2}); i == 1 && st != want {
			t.Errorf("March 2025, report 2 read %+v; want %+v: its 2 late copies alone", st, want)
		}
		if i == 0 && (st.CaughtUp != 5 || st.Copied != 4 || st.Window != 0) {
			t.Errorf("March 2025, report 1 read %+v; want the 5 audits examined, the 4 late ones copied", st)
		}
	}
	rep, _, err := b.ops.ReportWith(context.Background(), future.Add(-time.Hour), future.Add(time.Hour), DefaultLateRule())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 1 || rep.Rows[0].Account != "sub_future" {
		t.Errorf("the future's rows %+v; want sub_future's", rep.Rows)
	}
	rep, _, err = b.ops.ReportWith(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour), DefaultLateRule())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 1 || rep.Rows[0].Account != "sub_now" {
		t.Errorf("today's rows %+v; want sub_now's", rep.Rows)
	}
	info, err := b.js.Stream(context.Background(), events.StreamAuditLate)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := info.Info(context.Background()); err != nil || st.State.Msgs != 4+1 {
		t.Errorf("AUDIT_LATE holds %v messages (%v); want the 4 late audits, each once, and the cursor", st.State.Msgs, err)
	}
}

// What was delivered for a payment's account, and whether an account made
// in the range was ever paid for, come from the records when the audits
// that said so are of another month.
func TestBuildReportDeliveryFromRecords(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
	jan := time.Date(2025, 1, 5, 0, 0, 0, 0, time.UTC)
	audits := []events.Audit{
		// renewals of accounts made in January
		paidAudit("sub_renewed", "in_r2", at),
		func() events.Audit { a := paidAudit("sub_seats", "in_s2", at); a.Seats = 2; return a }(),
		func() events.Audit { a := paidAudit("sub_short", "in_sh2", at); a.Seats = 2; return a }(),
		// an account made again in March (a plan change), paid for in January
		createdAudit("sub_replaced", "pvNew", at),
		// an account made in March, never paid for
		createdAudit("sub_free", "pvFree", at),
	}
	made := func(key, username string, purchased bool) *provisioning.Record {
		return &provisioning.Record{Key: key, Desired: provisioning.Desired{Purchased: purchased, Livemode: true},
			Actual: provisioning.Actual{Provider: "purevpn", Username: username, Exists: true, Enabled: true, Generation: 1,
				CreatedAt: jan, Expiry: at.AddDate(0, 1, 0)}}
	}
	recs := []*provisioning.Record{
		made("sub_renewed", "pvR", true),
		made("sub_seats", "pvS", true), made(provisioning.SeatKey("sub_seats", 2), "pvS2", true),
		made("sub_short", "pvSh", true), {Key: provisioning.SeatKey("sub_short", 2), Desired: provisioning.Desired{Purchased: true}},
		made("sub_replaced", "pvNew", true),
		made("sub_free", "pvFree", false),
	}
	rep := buildReport(at.AddDate(0, 0, -1), at.AddDate(0, 0, 1), audits, recs)
	got := map[string]ReportRow{}
	for _, r := range rep.Rows {
		got[r.Account] = r
	}
	if len(got) != 4 {
		t.Errorf("rows %+v; want sub_renewed, sub_seats, sub_short and sub_free", rep.Rows)
	}
	if r := got["sub_renewed"]; r.Status != StatusOK || r.Username != "pvR" || !r.DeliveredFrom.Equal(jan) || !r.DeliveredTo.Equal(at.AddDate(0, 1, 0)) {
		t.Errorf("sub_renewed = %+v; want ok, delivered by pvR from January to April", r)
	}
	if r := got["sub_seats"]; r.Status != StatusOK {
		t.Errorf("sub_seats = %+v; want ok: both seats have an account", r)
	}
	if r := got["sub_short"]; r.Status != StatusPaidNotProvisioned {
		t.Errorf("sub_short = %+v; want paid_not_provisioned: its second seat has no account", r)
	}
	if r := got["sub_free"]; r.Status != StatusProvisionedNotPaid || r.Mode != "live" {
		t.Errorf("sub_free = %+v; want provisioned_not_paid, live", r)
	}
}

// Without stream AUDIT_LATE (a worker older than vpnbillctl declared the
// streams) the report reads the whole trail, as it did before.
func TestReportWithoutTheLateStream(t *testing.T) {
	t.Parallel()
	b := setupReport(t)
	if err := b.js.DeleteStream(context.Background(), events.StreamAuditLate); err != nil {
		t.Fatal(err)
	}
	march := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	b.audit(t, paidAudit("sub_a", "in_a", march))
	b.audit(t, createdAudit("sub_a", "pvA", march))
	b.record(t, &provisioning.Record{Key: "sub_gone", Desired: provisioning.Desired{Status: provisioning.StatusCanceled},
		Actual: provisioning.Actual{Provider: "purevpn", Username: "pvGone", Exists: true, Enabled: true, Generation: 1}})
	if _, err := b.topo.Accounts.Put(context.Background(), "idx.in_a", []byte("sub_a")); err != nil { // an index key is no record
		t.Fatal(err)
	}
	rep, err := b.ops.Report(context.Background(), time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rep.Rows {
		got[r.Account] = r.Status
	}
	if len(got) != 2 || got["sub_a"] != StatusOK || got["sub_gone"] != StatusCanceledEnabled {
		t.Errorf("rows %v; want sub_a ok and sub_gone canceled_still_enabled", got)
	}
}

func TestLateSubjects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		from, to time.Time
		want     []string
	}{
		{time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC),
			[]string{"auditlate.2025.03.fact.applied", "auditlate.2025.03.account.created"}},
		{time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC),
			[]string{"auditlate.2025.12.fact.applied", "auditlate.2025.12.account.created", "auditlate.2026.01.fact.applied", "auditlate.2026.01.account.created"}},
		{time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
			[]string{"auditlate.*.*.fact.applied", "auditlate.*.*.account.created"}},
	} {
		if got := lateSubjects(tc.from, tc.to); !slices.Equal(got, tc.want) {
			t.Errorf("lateSubjects(%s, %s) = %v; want %v", tc.from, tc.to, got, tc.want)
		}
	}
}

// A cursor of an AUDIT stream made again since (its sequences start over)
// is not taken for this one's: the new trail is examined from its start.
func TestReportAfterTheAuditStreamIsMadeAgain(t *testing.T) {
	t.Parallel()
	b := setupReport(t)
	ctx := context.Background()
	march := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	for i := range 5 {
		b.audit(t, paidAudit(fmt.Sprintf("sub_%d", i), fmt.Sprintf("in_%d", i), time.Now()))
	}
	if _, _, err := b.ops.ReportWith(ctx, march, march.Add(time.Hour), DefaultLateRule()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a creation time of its own
	if err := b.js.DeleteStream(ctx, events.StreamAudit); err != nil {
		t.Fatal(err)
	}
	harness.Topology(t, b.js, events.Config{})
	b.audit(t, paidAudit("sub_late", "in_late", march))
	rep, st, err := b.ops.ReportWith(ctx, march.Add(-time.Hour), march.Add(time.Hour), DefaultLateRule())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 1 || rep.Rows[0].Account != "sub_late" || st.CaughtUp != 1 || st.Copied != 1 {
		t.Errorf("rows %+v, read %+v; want sub_late's row, its audit examined and copied", rep.Rows, st)
	}
}
