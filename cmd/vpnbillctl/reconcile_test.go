package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/ops"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

func (b *bundle) env(name string) string {
	for _, kv := range b.environ {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// pureAccount makes an enabled PureVPN account through the reseller API.
func (b *bundle) pureAccount(t *testing.T) string {
	t.Helper()
	c, err := purevpn.New(purevpn.Config{URL: b.env("PUREVPN_API_URL"), User: pureAPIUser, Password: pureAPIPassword})
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Create(context.Background(), purevpn.Standard, purevpn.Period30)
	if err != nil {
		t.Fatal(err)
	}
	return a.Username
}

func (b *bundle) addTunnel(t *testing.T) string {
	t.Helper()
	c, err := vpnki.New(vpnki.Config{URL: b.vpnkiURL, Key: vpnkiKey})
	if err != nil {
		t.Fatal(err)
	}
	tn, err := c.AddTunnel(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tn.Tunnel
}

func deliveredRecord(key, username string) provisioning.Record {
	now := time.Now().UTC()
	return provisioning.Record{Key: key, Created: now.Add(-24 * time.Hour),
		Desired: provisioning.Desired{
			Plan:   provisioning.PlanSnapshot{ID: "std-monthly", Name: "Standard VPN, monthly", Provider: "purevpn", PackageType: "STANDARD", PeriodDays: 30},
			Status: provisioning.StatusActive, PaidThrough: now.Add(29 * 24 * time.Hour), PaidAsOf: now.Add(-24 * time.Hour),
			Purchased: true, Email: key + "@example.com", Subscription: key,
		},
		Actual: provisioning.Actual{Provider: "purevpn", Username: username, Exists: true, Enabled: true, Generation: 1, PlanID: "std-monthly"},
	}
}

func TestReconcileCommand(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.putRecord(t, deliveredRecord("sub_fine", b.pureAccount(t)))
	r := deliveredRecord("sub_unpaid", b.pureAccount(t))
	r.Desired.Status, r.Desired.SuspendAt = provisioning.StatusSuspended, time.Now().Add(-time.Hour)
	b.putRecord(t, r)
	orphan := b.addTunnel(t)

	code, out, _ := b.ctl(t, "reconcile")
	if code != exitProblems {
		t.Fatalf("reconcile with drift: exit %d, want %d\n%s", code, exitProblems, out)
	}
	for _, want := range []string{"sub_unpaid", "enabled_should_be_suspended", "orphan_tunnel", orphan, "reconcile --fix"} {
		if !strings.Contains(out, want) {
			t.Errorf("reconcile output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "sub_fine") {
		t.Errorf("a record in step with its provider is reported:\n%s", out)
	}
	code, out, _ = b.ctl(t, "--json", "reconcile")
	var rep ops.ReconcileReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitProblems || len(rep.Drift) != 2 {
		t.Fatalf("reconcile --json: exit %d, %v, %s", code, err, out)
	}

	accounts, tunnels := len(b.pure.Accounts()), len(b.tunnels.Tunnels())
	code, out, errOut := b.ctl(t, "reconcile", "--fix")
	if code != exitProblems { // the orphan tunnel is not --fix's to delete
		t.Errorf("reconcile --fix with an orphan left: exit %d, want %d", code, exitProblems)
	}
	if !strings.Contains(errOut, "fixed: enabled_should_be_suspended sub_unpaid") || !strings.Contains(out, "suspended (disabled) at the provider") {
		t.Errorf("reconcile --fix does not say what it did:\nstdout: %s\nstderr: %s", out, errOut)
	}
	if a, _ := b.pure.Account(r.Actual.Username); a.Enabled {
		t.Error("reconcile --fix left the unpaid account enabled")
	}
	// As the worker would have: recorded, audited, the customer told.
	if rec := b.record(t, "sub_unpaid"); rec.Actual.Enabled || rec.Actual.Suspensions != 1 || rec.Lease != nil || rec.Step != nil {
		t.Errorf("record after --fix: enabled %t, suspensions %d, lease %+v, step %+v", rec.Actual.Enabled, rec.Actual.Suspensions, rec.Lease, rec.Step)
	}
	if n := len(b.audits(t, "sub_unpaid", events.AuditSuspended)); n != 1 {
		t.Errorf("account.suspended audits = %d, want 1", n)
	}
	if msgs := b.mail.Messages(); len(msgs) != 1 || msgs[0].To[0] != "sub_unpaid@example.com" {
		t.Errorf("emails after --fix: %d, want the suspension", len(msgs))
	}
	if len(b.pure.Accounts()) != accounts || len(b.tunnels.Tunnels()) != tunnels {
		t.Error("reconcile --fix deleted or made an account")
	}
	// Every run is recorded where the console's overview reads it.
	run, ok, err := (&ops.Ops{JS: b.js}).LastReconcile(context.Background())
	if err != nil || !ok || run.By != "vpnbillctl" || !run.Fix || run.Drift != 2 || run.Unfixed != 1 ||
		run.Kinds[ops.DriftOrphanTunnel] != 1 || run.Status() != "drift" {
		t.Errorf("the --fix run recorded as %+v (found %t, %v)", run, ok, err)
	}
	if code, _, _ := b.ctl(t, "reconcile", "extra"); code != exitUsage {
		t.Errorf("reconcile with an argument: exit %d, want %d", code, exitUsage)
	}
}

func TestReconcileCommandClean(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.putRecord(t, deliveredRecord("sub_fine", b.pureAccount(t)))
	if out := b.mustCtl(t, "reconcile"); strings.Contains(out, "sub_fine") {
		t.Errorf("clean reconcile reports:\n%s", out)
	}
	r := deliveredRecord("sub_off", b.pureAccount(t))
	r.Desired.Status, r.Desired.DeleteAt = provisioning.StatusCanceled, time.Now().Add(time.Hour)
	b.putRecord(t, r)
	if code, _, _ := b.ctl(t, "reconcile", "--fix"); code != exitOK {
		t.Errorf("reconcile --fix of fixable drift only: exit %d, want %d", code, exitOK)
	}
	b.mustCtl(t, "reconcile")
}

// audits returns account key's audit events of kind in stream AUDIT.
func (b *bundle) audits(t *testing.T, key string, kind events.AuditKind) []events.Audit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := b.streamMsgs(t, events.StreamAudit)
	if n == 0 {
		return nil
	}
	cons, err := b.js.OrderedConsumer(ctx, events.StreamAudit, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(int(n), jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var out []events.Audit
	for m := range batch.Messages() {
		a, err := events.DecodeAudit(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		if a.Account == key && a.Kind == kind {
			out = append(out, a)
		}
	}
	return out
}

func TestReconcileFixRenewsIntoTheReport(t *testing.T) {
	t.Parallel()
	b := setup(t)
	username := b.pureAccount(t)
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	r := deliveredRecord("sub_short", username)
	r.Desired.PaidThrough = at.Add(60 * 24 * time.Hour) // paid two periods; PureVPN has one
	b.putRecord(t, r)
	// What the worker audited of the payment and the account it made.
	audit(t, b.js, events.Audit{ID: "fact.applied:sub_short:evt_1", Kind: events.AuditFactApplied, Time: at, Account: "sub_short",
		StripeEvent: "evt_1", StripeType: "invoice.paid", StripeCreated: at, Subscription: "sub_short", Invoice: "in_1",
		Amount: 1998, Currency: "eur", Plan: "std-monthly", PeriodStart: at, PeriodEnd: r.Desired.PaidThrough})
	created, _ := b.pure.Account(username)
	audit(t, b.js, events.Audit{ID: "account.created:sub_short:1", Kind: events.AuditAccountCreated, Time: at, Account: "sub_short",
		Provider: "purevpn", Username: username, PeriodStart: at, PeriodEnd: created.Expiry})

	code, out, errOut := b.ctl(t, "reconcile", "--fix")
	if code != exitOK || !strings.Contains(errOut, "fixed: expiry_short sub_short") || !strings.Contains(out, "renewed") {
		t.Fatalf("reconcile --fix: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if n := b.pure.Calls("renew"); n != 1 {
		t.Errorf("renew calls = %d, want 1", n)
	}
	renewed := b.audits(t, "sub_short", events.AuditAccountRenewed)
	if len(renewed) != 1 || renewed[0].PeriodStart.IsZero() || !renewed[0].PeriodEnd.After(renewed[0].PeriodStart) {
		t.Fatalf("account.renewed audits: %+v", renewed)
	}
	if exp := b.record(t, "sub_short").Actual.Expiry; !exp.Equal(renewed[0].PeriodEnd) {
		t.Errorf("record expiry %s, renewed to %s", exp, renewed[0].PeriodEnd)
	}

	// Finance sees the renewal as delivered.
	_, out, _ = b.ctl(t, "report", "--from", at.Add(-time.Hour).Format(time.RFC3339), "--to", at.Add(time.Hour).Format(time.RFC3339), "--format", "json")
	var rep ops.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	i := slices.IndexFunc(rep.Rows, func(row ops.ReportRow) bool { return row.Account == "sub_short" })
	if i < 0 || rep.Rows[i].Status != ops.StatusOK || !rep.Rows[i].DeliveredTo.Equal(renewed[0].PeriodEnd) {
		t.Errorf("report rows %+v; want sub_short delivered to %s", rep.Rows, renewed[0].PeriodEnd)
	}

	if code, _, _ := b.ctl(t, "reconcile", "--fix"); code != exitOK || b.pure.Calls("renew") != 1 {
		t.Errorf("a second --fix: exit %d, %d renew calls; want 0 and 1", code, b.pure.Calls("renew"))
	}
}

func TestReconcileFixNeedsTheWorkersVariables(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := deliveredRecord("sub_unpaid", b.pureAccount(t))
	r.Desired.Status, r.Desired.SuspendAt = provisioning.StatusSuspended, time.Now().Add(-time.Hour)
	b.putRecord(t, r)
	// Only NATS and the providers: reconcile reads, --fix refuses.
	b.environ = slices.DeleteFunc(b.environ, func(kv string) bool {
		for _, name := range []string{"PLANS_FILE=", "SMTP_URL=", "MAIL_FROM=", "CREDENTIALS_KEY="} {
			if strings.HasPrefix(kv, name) {
				return true
			}
		}
		return false
	})
	if code, out, _ := b.ctl(t, "reconcile"); code != exitProblems || !strings.Contains(out, "enabled_should_be_suspended") {
		t.Errorf("reconcile with the providers' variables only: exit %d\n%s", code, out)
	}
	code, _, errOut := b.ctl(t, "reconcile", "--fix")
	if code != exitError || !strings.Contains(errOut, "reconcile --fix") || !strings.Contains(errOut, "SMTP_URL") || !strings.Contains(errOut, "CREDENTIALS_KEY") {
		t.Errorf("reconcile --fix without the worker's variables: exit %d\n%s", code, errOut)
	}
	if a, _ := b.pure.Account(r.Actual.Username); !a.Enabled || b.pure.Calls("update_account") != 0 {
		t.Error("reconcile --fix without the worker's variables changed the account")
	}
}
