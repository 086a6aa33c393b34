package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

// `mode` shows what is configured here and what is pinned, and which mode a
// worker with this environment serves.
func TestModeShowsConfiguredAndPinned(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var m modeReport
	read := func(environ ...string) {
		t.Helper()
		saved := b.environ
		b.environ = append(append([]string{}, saved...), environ...)
		defer func() { b.environ = saved }()
		m = modeReport{}
		if err := json.Unmarshal([]byte(b.mustCtl(t, "mode", "--json")), &m); err != nil {
			t.Fatal(err)
		}
	}
	read()
	if m.Configured != "auto" || m.Pinned != "" || m.Served != "first event" {
		t.Errorf("nothing configured or pinned: %+v", m)
	}
	if live, err := provisioning.NewStore(b.topo.Accounts).PinMode(context.Background(), false, "evt_first"); err != nil || live {
		t.Fatalf("pin: %v, %v", live, err)
	}
	read()
	if m.Configured != "auto" || m.Pinned != "test" || m.PinnedBy != "evt_first" || m.PinnedAt.IsZero() || m.Served != "test" {
		t.Errorf("pinned test by evt_first: %+v", m)
	}
	read("STRIPE_API_KEY=rk_live_ctlModeKey")
	if m.Configured != "live" || m.Pinned != "test" || m.Served != "live" {
		t.Errorf("a live key, test pinned: %+v; want live served", m)
	}
	saved := b.environ
	b.environ = append(append([]string{}, saved...), "STRIPE_MODE=live")
	if out := b.mustCtl(t, "mode"); !strings.Contains(out, "set STRIPE_MODE on every worker") {
		t.Errorf("configured live, pinned test: the table must say what to do:\n%s", out)
	}
	b.environ = append(append([]string{}, saved...), "STRIPE_MODE=production")
	if code, _, errOut := b.ctl(t, "mode"); code != exitError || !strings.Contains(errOut, "STRIPE_MODE") {
		t.Errorf("a bad STRIPE_MODE: exit %d, %s; want 1 naming STRIPE_MODE", code, errOut)
	}
	b.environ = saved
}

// `report --mode` reports one mode alone, and the CSV names every row's
// mode and seats in columns added at the end.
func TestReportByMode(t *testing.T) {
	t.Parallel()
	b := setup(t)
	at := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	pay := func(account string, amount int64, live bool, seats int) {
		audit(t, b.js, events.Audit{ID: "fact.applied:" + account, Kind: events.AuditFactApplied, Time: at, Account: account,
			StripeEvent: "evt_" + account, StripeType: "invoice.paid", StripeCreated: at, Subscription: account, Invoice: "in_" + account,
			Amount: amount, Currency: "eur", Livemode: live, Seats: seats, Plan: "std-monthly"})
		audit(t, b.js, events.Audit{ID: "account.created:" + account, Kind: events.AuditAccountCreated, Time: at, Account: account,
			Provider: "purevpn", Username: "pv_" + account})
		for n := 2; n <= seats; n++ { // each further seat's account
			seat := provisioning.SeatKey(account, n)
			audit(t, b.js, events.Audit{ID: "account.created:" + seat, Kind: events.AuditAccountCreated, Time: at, Account: seat,
				Provider: "purevpn", Username: "pv_" + seat})
		}
	}
	pay("sub_live", 999, true, 2)
	pay("sub_test", 500, false, 0)

	csvOut := b.mustCtl(t, "report", "--from", "2025-03-01", "--to", "2025-04-01", "--format", "csv")
	rows, err := csv.NewReader(strings.NewReader(csvOut)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header := strings.Join(rows[0], ",")
	if !strings.HasSuffix(header, ",delivered_to,refunded,mode,seats") || !strings.HasPrefix(header, "status,time,account,stripe_type,") {
		t.Errorf("csv header %s: the new columns go at the end", header)
	}
	got := map[string]string{}
	for _, r := range rows[1:] {
		got[r[0]+" "+r[2]+" "+r[9]] += r[8] + " " + r[17] + " " + r[18] + ";"
	}
	want := map[string]string{
		"ok sub_live EUR": "999 live 2;", "ok sub_test EUR": "500 test ;",
		"total  EUR": "999 live ;500 test ;", // one total per mode, never their sum
	}
	if len(got) != len(want) {
		t.Errorf("csv rows %v; want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("csv %q: %q, want %q\n%s", k, got[k], v, csvOut)
		}
	}

	table := b.mustCtl(t, "report", "--from", "2025-03-01", "--to", "2025-04-01", "--mode", "live")
	for _, w := range []string{"live mode only: 1 payments, 0 mismatches", "live mode total EUR: 9.99 (1 payments)", "sub_live"} {
		if !strings.Contains(table, w) {
			t.Errorf("live report lacks %q:\n%s", w, table)
		}
	}
	if strings.Contains(table, "sub_test") || strings.Contains(table, "test mode total") {
		t.Errorf("live report holds test mode:\n%s", table)
	}
	if code, _, _ := b.ctl(t, "report", "--from", "2025-03-01", "--to", "2025-04-01", "--mode", "sandbox"); code != exitUsage {
		t.Errorf("--mode sandbox: exit %d, want %d", code, exitUsage)
	}
}
