package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap/zaptest"

	"github.com/vpnbill/vpnbill/internal/account"
	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki/vpnkisim"
	"github.com/vpnbill/vpnbill/internal/provisioning"
	"github.com/vpnbill/vpnbill/internal/worker"
)

const (
	simUser     = "reseller-ops"
	simPassword = "pv-ops-Pa55word!"
	simKey      = "vpnki-ops-key-0123456789"
)

var (
	pureStd   = billing.Plan{ID: "std-monthly", Provider: "purevpn", PackageType: "STANDARD", PeriodDays: 30}
	tunnelStd = billing.Plan{ID: "tunnel-monthly", Provider: "vpnki"}
)

type reconcileBundle struct {
	ops       *Ops
	js        jetstream.JetStream
	topo      *events.Topology
	pure      *purevpnsim.Sim
	tunnels   *vpnkisim.Sim
	pureAPI   *purevpn.Client
	vpnkiAPI  *vpnki.Client
	providers map[providers.Name]provisioning.Provider
	mail      *mailcatcher.Catcher
	// svc is vpnbillctl's provisioning service, the Refresher of --fix.
	svc *provisioning.Service
}

// setupReconcile runs an embedded JetStream with vpnbill's streams, both
// provider simulators, reached through the real clients, an SMTP listener,
// and the provisioning service vpnbillctl runs for --fix.
func setupReconcile(t *testing.T) *reconcileBundle {
	t.Helper()
	b := &reconcileBundle{}
	w := harness.NewWorld(t, harness.WorldOptions{
		// Every revision of a record kept: tests read its intents and results.
		Events:  events.Config{AccountsHistory: 64},
		PureVPN: purevpnsim.Options{User: simUser, Password: simPassword},
		VPNKI:   vpnkisim.Options{Key: simKey, Address: "vpn.example.net"},
		Mail:    mailcatcher.Options{Logger: zaptest.NewLogger(t)},
	})
	b.js, b.topo, b.pure, b.tunnels, b.mail = w.JS, w.Topology, w.PureVPN, w.VPNKI, w.Mail
	var err error
	if b.pureAPI, err = purevpn.New(purevpn.Config{URL: w.PureVPNURL, User: simUser, Password: simPassword}); err != nil {
		t.Fatal(err)
	}
	if b.vpnkiAPI, err = vpnki.New(vpnki.Config{URL: w.VPNKIURL, Key: simKey}); err != nil {
		t.Fatal(err)
	}
	b.providers = map[providers.Name]provisioning.Provider{
		providers.PureVPN: worker.PureVPN{Client: b.pureAPI},
		providers.VPNKI:   worker.VPNKI{Client: b.vpnkiAPI},
	}
	b.svc = b.service(t, "vpnbillctl-test", b.providers)
	// An hour ahead: records written now have not been written for an hour.
	b.ops = &Ops{JS: w.JS, Now: func() time.Time { return time.Now().Add(time.Hour) }}
	return b
}

// service is a provisioning service named owner (in leases) over provs, as
// a worker or vpnbillctl runs it.
func (b *reconcileBundle) service(t *testing.T, owner string, provs map[providers.Name]provisioning.Provider) *provisioning.Service {
	t.Helper()
	mailer, err := notify.New(notify.Config{URL: b.mail.URL(), From: "VPN Shop <support@vpnshop.test>"}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := provisioning.NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return provisioning.New(provisioning.Config{Owner: owner}, provisioning.NewStore(b.topo.Accounts), b.js, provs, mailer, sealer,
		zaptest.NewLogger(t).Named(owner))
}

// fix is --fix with vpnbillctl's service.
func (b *reconcileBundle) fix(t *testing.T, opts ReconcileOptions) ReconcileReport {
	t.Helper()
	opts.Providers, opts.Fix = b.providers, true
	if opts.Refresher == nil {
		opts.Refresher = b.svc
	}
	rep, err := b.ops.Reconcile(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// stored returns the record under key as stored now.
func (b *reconcileBundle) stored(t *testing.T, key string) *provisioning.Record {
	t.Helper()
	r, _, err := provisioning.NewStore(b.topo.Accounts).Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// steps returns the names of the steps (intents) every revision of the
// record under key held, in order.
func (b *reconcileBundle) steps(t *testing.T, key string) []string {
	t.Helper()
	hist, err := b.topo.Accounts.History(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range hist {
		var r provisioning.Record
		if err := json.Unmarshal(e.Value(), &r); err != nil {
			t.Fatal(err)
		}
		if r.Step != nil && (len(out) == 0 || out[len(out)-1] != r.Step.Name) {
			out = append(out, r.Step.Name)
		}
	}
	return out
}

// audits returns the audit events of account key in stream AUDIT.
func (b *reconcileBundle) audits(t *testing.T, key string) []events.Audit {
	t.Helper()
	var out []events.Audit
	err := b.ops.scan(context.Background(), events.StreamAudit, jetstream.OrderedConsumerConfig{}, func(m jetstream.Msg) error {
		a, err := events.DecodeAudit(m.Data())
		if err == nil && a.Account == key {
			out = append(out, a)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func auditsOf(as []events.Audit, kind events.AuditKind) []events.Audit {
	var out []events.Audit
	for _, a := range as {
		if a.Kind == kind {
			out = append(out, a)
		}
	}
	return out
}

// drift returns the report's row of key and kind.
func drift(t *testing.T, rep ReconcileReport, key string, kind DriftKind) Drift {
	t.Helper()
	for _, d := range rep.Drift {
		if d.Key == key && d.Kind == kind {
			return d
		}
	}
	t.Fatalf("no %s drift for %s in %+v", kind, key, rep.Drift)
	return Drift{}
}

func (b *reconcileBundle) put(t *testing.T, r provisioning.Record) {
	t.Helper()
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.topo.Accounts.Put(context.Background(), r.Key, data); err != nil {
		t.Fatal(err)
	}
}

// pureAccount makes a PureVPN account through the API; enabled as asked.
func (b *reconcileBundle) pureAccount(t *testing.T, enabled bool) string {
	t.Helper()
	ctx := context.Background()
	a, err := b.pureAPI.Create(ctx, purevpn.Standard, purevpn.Period30)
	if err != nil {
		t.Fatal(err)
	}
	if !enabled {
		if err := b.pureAPI.UpdateAccount(ctx, a.Username, false); err != nil {
			t.Fatal(err)
		}
	}
	return a.Username
}

func (b *reconcileBundle) tunnel(t *testing.T) string {
	t.Helper()
	tn, err := b.vpnkiAPI.AddTunnel(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tn.Tunnel
}

// record is an active, delivered record of plan with account username.
func record(key string, plan billing.Plan, username string, paidThrough time.Time) provisioning.Record {
	now := time.Now().UTC()
	return provisioning.Record{Key: key, Created: now.Add(-24 * time.Hour),
		Desired: provisioning.Desired{Plan: provisioning.SnapshotOf(plan), Status: provisioning.StatusActive, PaidThrough: paidThrough,
			PaidAsOf: now.Add(-24 * time.Hour), Purchased: true, Email: key + "@example.com", Subscription: key},
		Actual: provisioning.Actual{Provider: plan.Provider, Username: username, Exists: username != "", Enabled: username != "",
			Generation: 1, CreatedAt: now.Add(-24 * time.Hour), PlanID: plan.ID},
	}
}

// seedDrift stores one record (or tunnel) per drift kind, and clean ones.
// It returns the kinds expected per record key ("" for the orphan tunnel).
func seedDrift(t *testing.T, b *reconcileBundle) map[string]DriftKind {
	t.Helper()
	now := time.Now().UTC()
	month := now.Add(29 * 24 * time.Hour)

	b.put(t, record("sub_missing", pureStd, "pvghost01", month))

	orphan := b.tunnel(t)

	r := record("sub_suspend", pureStd, b.pureAccount(t, true), month)
	r.Desired.Status, r.Desired.SuspendAt = provisioning.StatusSuspended, now.Add(-time.Hour)
	b.put(t, r)

	r = record("sub_resume", pureStd, b.pureAccount(t, false), month)
	r.Actual.Enabled = false
	b.put(t, r)

	b.put(t, record("sub_short", pureStd, b.pureAccount(t, true), now.Add(50*24*time.Hour)))

	r = record("sub_delete", tunnelStd, b.tunnel(t), month)
	r.Desired.Status, r.Desired.DeleteAt = provisioning.StatusCanceled, now.Add(-time.Hour)
	b.put(t, r)

	r = record("sub_unexpected", tunnelStd, b.tunnel(t), month)
	r.Actual.Exists, r.Actual.Enabled = false, false
	b.put(t, r)

	r = record("sub_review", pureStd, "", month)
	r.Review = &provisioning.Review{Reason: "create interrupted", Step: "create", Attempt: "att-1", Since: now.Add(-time.Hour)}
	b.put(t, r)

	r = record("cs_refund", pureStd, "", month)
	r.Desired.Status, r.Desired.DeleteAt, r.RefundDue = provisioning.StatusCanceled, now.Add(-time.Hour), true
	b.put(t, r)

	r = record("sub_stuck", pureStd, b.pureAccount(t, true), month)
	r.Step = &provisioning.Step{Name: "email.welcome.1", Attempt: "a1", Owner: "worker-x", Started: now.Add(-20 * time.Minute)}
	b.put(t, r)

	r = record("sub_mail", pureStd, b.pureAccount(t, true), month)
	r.Mail = []provisioning.PendingEmail{{ID: "welcome.1", Kind: notify.Welcome, Gen: 1}}
	b.put(t, r)

	// Clean: a PureVPN account, a VPNKI tunnel, a claimed tunnel of a
	// record that has not stored its result yet, and a record being driven now.
	b.put(t, record("sub_clean_pv", pureStd, b.pureAccount(t, true), month))
	b.put(t, record("sub_clean_tn", tunnelStd, b.tunnel(t), month))
	claimed := b.tunnel(t)
	if _, err := b.topo.Accounts.Put(context.Background(), "claim.vpnki."+claimed, []byte("sub_clean_tn")); err != nil {
		t.Fatal(err)
	}
	return map[string]DriftKind{
		"sub_missing":    DriftMissingAccount,
		"":               DriftOrphanTunnel,
		"sub_suspend":    DriftEnabledShouldBeSuspended,
		"sub_resume":     DriftDisabledShouldBeEnabled,
		"sub_short":      DriftExpiryShort,
		"sub_delete":     DriftShouldBeDeleted,
		"sub_unexpected": DriftUnexpectedAccount,
		"sub_review":     DriftReviewOpen,
		"cs_refund":      DriftRefundDue,
		"sub_stuck":      DriftStuckStep,
		"sub_mail":       DriftOwedEmail,
		"#orphan":        DriftKind(orphan),
	}
}

func TestReconcileReportsEachDrift(t *testing.T) {
	t.Parallel()
	b := setupReconcile(t)
	want := seedDrift(t, b)
	orphan := string(want["#orphan"])
	delete(want, "#orphan")
	accounts, tunnels := len(b.pure.Accounts()), len(b.tunnels.Tunnels())
	statusCalls := b.pure.Calls("status")

	rep, err := b.ops.Reconcile(context.Background(), ReconcileOptions{Providers: b.providers})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]DriftKind{}
	for _, d := range rep.Drift {
		if _, dup := got[d.Key]; dup {
			t.Errorf("%s: a second drift %s (%s)", d.Key, d.Kind, d.Detail)
		}
		got[d.Key] = d.Kind
		if d.Fixed || d.Action != "" || d.Remedy == "" {
			t.Errorf("%s %s: fixed %t, action %q, remedy %q without --fix", d.Key, d.Kind, d.Fixed, d.Action, d.Remedy)
		}
		if d.Kind == DriftOrphanTunnel && d.Username != orphan {
			t.Errorf("orphan tunnel reported: %s, want %s", d.Username, orphan)
		}
	}
	for key, kind := range want {
		if got[key] != kind {
			t.Errorf("record %q: drift %q, want %q", key, got[key], kind)
		}
	}
	for key, kind := range got {
		if _, ok := want[key]; !ok {
			t.Errorf("record %q: unexpected drift %q", key, kind)
		}
	}
	if rep.Unfixed() != len(want) {
		t.Errorf("Unfixed = %d, want %d", rep.Unfixed(), len(want))
	}
	// One status call per PureVPN account the records name, one tunnel list.
	if n := b.pure.Calls("status") - statusCalls; n != 7 {
		t.Errorf("PureVPN status calls = %d, want 7", n)
	}
	if n := b.tunnels.Calls("tunnels"); n != 1 {
		t.Errorf("VPNKI tunnels calls = %d, want 1", n)
	}
	if len(b.pure.Accounts()) != accounts || len(b.tunnels.Tunnels()) != tunnels {
		t.Error("a report changed the providers")
	}
	out, _ := json.Marshal(rep)
	for _, secret := range secretsOf(b) {
		if strings.Contains(string(out), secret) {
			t.Errorf("the report holds a secret %q", secret)
		}
	}
}

func secretsOf(b *reconcileBundle) []string {
	s := []string{simPassword, simKey}
	for _, a := range b.pure.Accounts() {
		s = append(s, a.Password)
	}
	for _, tn := range b.tunnels.Tunnels() {
		s = append(s, tn.Password)
	}
	return s
}

func TestReconcileFixSuspendsResumesRenewsAndDeletesNothing(t *testing.T) {
	t.Parallel()
	b := setupReconcile(t)
	seedDrift(t, b)
	accounts, tunnels := len(b.pure.Accounts()), len(b.tunnels.Tunnels())
	username := func(key string) string {
		t.Helper()
		e, err := b.topo.Accounts.Get(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		var r provisioning.Record
		if err := json.Unmarshal(e.Value(), &r); err != nil {
			t.Fatal(err)
		}
		return r.Actual.Username
	}
	short, _ := b.pure.Account(username("sub_short"))
	creates := b.pure.Calls("create")

	var fixes []Drift
	rep := b.fix(t, ReconcileOptions{OnFix: func(d Drift) { fixes = append(fixes, d) }})
	fixed := map[string]DriftKind{}
	for _, d := range rep.Drift {
		if d.Fixed {
			fixed[d.Key] = d.Kind
			if d.Action == "" {
				t.Errorf("%s fixed without saying what was done", d.Key)
			}
		}
	}
	wantFixed := map[string]DriftKind{"sub_suspend": DriftEnabledShouldBeSuspended, "sub_resume": DriftDisabledShouldBeEnabled, "sub_short": DriftExpiryShort}
	if len(fixed) != len(wantFixed) || len(fixes) != len(wantFixed) {
		t.Errorf("fixed %v (%d reported), want %v", fixed, len(fixes), wantFixed)
	}
	for k, kind := range wantFixed {
		if fixed[k] != kind {
			t.Errorf("%s: fixed %q, want %q", k, fixed[k], kind)
		}
	}
	if rep.Unfixed() == 0 {
		t.Error("everything fixed, but deletions and reviews are not --fix's to do")
	}

	if a, _ := b.pure.Account(username("sub_suspend")); a.Enabled {
		t.Error("sub_suspend is still enabled at PureVPN")
	}
	if a, _ := b.pure.Account(username("sub_resume")); !a.Enabled {
		t.Error("sub_resume is still disabled at PureVPN")
	}
	a, _ := b.pure.Account(username("sub_short"))
	if !a.Expiry.After(short.Expiry) || a.Expiry.Add(account.RenewSlack).Before(time.Now().Add(50*24*time.Hour)) {
		t.Errorf("sub_short expiry %s (was %s), want within 72h of paid-through", a.Expiry, short.Expiry)
	}
	if n := b.pure.Calls("renew"); n != 1 {
		t.Errorf("renew calls = %d, want 1", n)
	}
	if len(b.pure.Accounts()) != accounts || len(b.tunnels.Tunnels()) != tunnels {
		t.Errorf("--fix deleted or made accounts: PureVPN %d → %d, VPNKI %d → %d",
			accounts, len(b.pure.Accounts()), tunnels, len(b.tunnels.Tunnels()))
	}
	if b.pure.Calls("delete_account") != 0 || b.tunnels.Calls("del_tunnel") != 0 || b.pure.Calls("create") != creates {
		t.Error("--fix called a delete or a create")
	}
	// Each fix went through the record: audited, and the customer told.
	for key, kind := range map[string]events.AuditKind{"sub_suspend": events.AuditSuspended, "sub_resume": events.AuditResumed, "sub_short": events.AuditAccountRenewed} {
		if n := len(auditsOf(b.audits(t, key), kind)); n != 1 {
			t.Errorf("%s: %d %s audit events, want 1", key, n, kind)
		}
		if r := b.stored(t, key); r.Lease != nil || r.Step != nil || len(r.Outbox) > 0 || len(r.Mail) > 0 {
			t.Errorf("%s after --fix: lease %+v, step %+v, outbox %d, mail %v", key, r.Lease, r.Step, len(r.Outbox), r.Mail)
		}
	}
	mailed := map[string]string{}
	for _, m := range b.mail.Messages() {
		mailed[m.To[0]] = m.Subject
	}
	if mailed["sub_suspend@example.com"] == "" || mailed["sub_resume@example.com"] == "" || len(mailed) != 2 {
		t.Errorf("emails: %v, want the suspension and the resumption", mailed)
	}

	// Fixed drift is gone on the next run; a second --fix renews nothing more.
	rep = b.fix(t, ReconcileOptions{})
	for _, d := range rep.Drift {
		if _, ok := wantFixed[d.Key]; ok {
			t.Errorf("%s still drifts after --fix: %s %s", d.Key, d.Kind, d.Detail)
		}
	}
	if n := b.pure.Calls("renew"); n != 1 {
		t.Errorf("renew calls after a second --fix = %d, want 1", n)
	}
}

func TestReconcileCleanAndUnreachable(t *testing.T) {
	t.Parallel()
	b := setupReconcile(t)
	b.put(t, record("sub_ok", pureStd, b.pureAccount(t, true), time.Now().Add(29*24*time.Hour)))
	b.put(t, record("sub_ok_tn", tunnelStd, b.tunnel(t), time.Now().Add(29*24*time.Hour)))

	rep, err := b.ops.Reconcile(context.Background(), ReconcileOptions{Providers: b.providers})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Drift) != 0 || rep.Records != 2 || rep.Tunnels != 1 {
		t.Fatalf("clean records: %+v", rep)
	}

	// A PureVPN that cannot be reached: its account is status_unknown,
	// with the class, and VPNKI is still checked.
	down, err := purevpn.New(purevpn.Config{URL: "http://" + harness.RefusedAddr(t), User: simUser, Password: simPassword, RetryFor: new(200 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	provs := map[providers.Name]provisioning.Provider{providers.PureVPN: worker.PureVPN{Client: down}, providers.VPNKI: b.providers[providers.VPNKI]}
	orphan := b.tunnel(t)
	rep, err = b.ops.Reconcile(context.Background(), ReconcileOptions{Providers: provs})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Drift) != 2 {
		t.Fatalf("drift = %+v, want status_unknown and orphan_tunnel", rep.Drift)
	}
	for _, d := range rep.Drift {
		switch d.Kind {
		case DriftStatusUnknown:
			if d.Key != "sub_ok" || !strings.Contains(d.Detail, "not_sent") {
				t.Errorf("status_unknown row: %+v", d)
			}
		case DriftOrphanTunnel:
			if d.Username != orphan {
				t.Errorf("orphan row: %+v", d)
			}
		default:
			t.Errorf("unexpected row: %+v", d)
		}
	}
}

func TestReconcileFixEnablesAnAccountDisabledBehindItsBack(t *testing.T) {
	t.Parallel()
	b := setupReconcile(t)
	// The record says enabled; someone disabled the account in the panel.
	r := record("sub_off", pureStd, b.pureAccount(t, false), time.Now().Add(29*24*time.Hour))
	b.put(t, r)

	rep := b.fix(t, ReconcileOptions{})
	d := drift(t, rep, "sub_off", DriftDisabledShouldBeEnabled)
	if !d.Fixed || !strings.Contains(d.Action, "resumed (enabled) at the provider") || rep.Unfixed() != 0 {
		t.Errorf("row %+v; unfixed %d", d, rep.Unfixed())
	}
	if a, _ := b.pure.Account(r.Actual.Username); !a.Enabled {
		t.Error("the account is still disabled at PureVPN")
	}
	if n := b.pure.Calls("update_account"); n != 2 { // the test's disable, --fix's enable
		t.Errorf("update_account calls = %d, want 2", n)
	}
	// Through the step machine: the read and the enable were intents with
	// results, under a lease now released, audited, the customer told.
	if got := b.steps(t, "sub_off"); strings.Join(got, " ") != "status enable email.resumed.0" {
		t.Errorf("steps = %v, want status, enable, email.resumed.0", got)
	}
	after := b.stored(t, "sub_off")
	if after.Lease != nil || after.Step != nil || len(after.Outbox) > 0 || len(after.Mail) > 0 || !after.Actual.Enabled {
		t.Errorf("record after --fix: lease %+v, step %+v, outbox %d, mail %v, enabled %t",
			after.Lease, after.Step, len(after.Outbox), after.Mail, after.Actual.Enabled)
	}
	audits := b.audits(t, "sub_off")
	if resumed := auditsOf(audits, events.AuditResumed); len(resumed) != 1 || resumed[0].Username != r.Actual.Username {
		t.Errorf("account.resumed audits: %+v", resumed)
	}
	if len(auditsOf(audits, events.AuditEmailSent)) != 1 || len(b.mail.Messages()) != 1 {
		t.Errorf("emails: %d audited, %d sent; want the resumption", len(auditsOf(audits, events.AuditEmailSent)), len(b.mail.Messages()))
	}
	if rep := b.fix(t, ReconcileOptions{}); len(rep.Drift) != 0 {
		t.Errorf("drift after --fix: %+v", rep.Drift)
	}
}

func TestReconcileFixRenewsOnceAndAuditsTheRenewal(t *testing.T) {
	t.Parallel()
	b := setupReconcile(t)
	username := b.pureAccount(t, true)
	lookup := func() provisioning.Remote {
		t.Helper()
		remote, err := b.providers[providers.PureVPN].Lookup(context.Background(), username)
		if err != nil {
			t.Fatal(err)
		}
		return remote
	}
	before := lookup()
	r := record("sub_short", pureStd, username, time.Now().Add(50*24*time.Hour))
	r.Actual.Expiry = before.Expiry
	b.put(t, r)

	rep := b.fix(t, ReconcileOptions{})
	d := drift(t, rep, "sub_short", DriftExpiryShort)
	if !d.Fixed || !strings.Contains(d.Action, "renewed") {
		t.Errorf("row %+v", d)
	}
	if n := b.pure.Calls("renew"); n != 1 {
		t.Errorf("renew calls = %d, want 1", n)
	}
	now := lookup()
	renewed := auditsOf(b.audits(t, "sub_short"), events.AuditAccountRenewed)
	if len(renewed) != 1 || !renewed[0].PeriodStart.Equal(before.Expiry) || !renewed[0].PeriodEnd.Equal(now.Expiry) {
		t.Fatalf("account.renewed audits: %+v; want one from %s to %s", renewed, before.Expiry, now.Expiry)
	}
	if got := b.stored(t, "sub_short").Actual.Expiry; !got.Equal(now.Expiry) {
		t.Errorf("record expiry %s, PureVPN's %s", got, now.Expiry)
	}
	// The finance report counts it as a delivered period.
	rows := buildReport(time.Time{}, time.Time{}, append(renewed,
		events.Audit{ID: "p", Kind: events.AuditFactApplied, Account: "sub_short", StripeType: "invoice.paid", Invoice: "in_1", Amount: 999, Currency: "eur"},
		events.Audit{ID: "c", Kind: events.AuditAccountCreated, Account: "sub_short", Provider: "purevpn", Username: username, PeriodEnd: before.Expiry},
	), nil).Rows
	if len(rows) != 1 || !rows[0].DeliveredTo.Equal(now.Expiry) {
		t.Errorf("report rows %+v; want delivered to %s", rows, now.Expiry)
	}
}

// gatedRenew holds Renew until release is closed, as a slow provider
// would, and says when a renew began.
type gatedRenew struct {
	provisioning.Provider
	once    *sync.Once
	entered chan struct{}
	release chan struct{}
}

func (g gatedRenew) Renew(ctx context.Context, username string, plan billing.Plan) error {
	g.once.Do(func() { close(g.entered) })
	select {
	case <-g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Provider.Renew(ctx, username, plan)
}

// leaseSpy says when a Refresh first met another process's lease.
type leaseSpy struct {
	Refresher
	once   sync.Once
	leased chan struct{}
}

func (s *leaseSpy) Refresh(ctx context.Context, key string) (provisioning.Refreshed, error) {
	rf, err := s.Refresher.Refresh(ctx, key)
	if errors.Is(err, provisioning.ErrLeased) {
		s.once.Do(func() { close(s.leased) })
	}
	return rf, err
}

func TestReconcileFixNeverRenewsBesideAWorker(t *testing.T) {
	t.Parallel()
	b := setupReconcile(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	username := b.pureAccount(t, true)
	r := record("sub_race", pureStd, username, time.Now().Add(50*24*time.Hour))
	b.put(t, r)

	// A worker (another process: another owner) renews the record and is
	// held inside the provider's renew, its lease live.
	gate := gatedRenew{Provider: b.providers[providers.PureVPN], once: &sync.Once{}, entered: make(chan struct{}), release: make(chan struct{})}
	w := b.service(t, "worker-1", map[providers.Name]provisioning.Provider{providers.PureVPN: gate, providers.VPNKI: b.providers[providers.VPNKI]})
	worked := make(chan error, 1)
	go func() { worked <- w.Reconcile(ctx, "sub_race") }()
	select {
	case <-gate.entered:
	case err := <-worked:
		t.Fatalf("the worker finished before renewing: %v", err)
	}
	if l := b.stored(t, "sub_race").Lease; l == nil || l.Owner != "worker-1" {
		t.Fatalf("lease %+v, want the worker's", l)
	}

	// Not waiting: the record is reported busy, and nothing is called.
	rep := b.fix(t, ReconcileOptions{LeaseWait: new(time.Duration(0))})
	if d := drift(t, rep, "sub_race", DriftExpiryShort); d.Fixed || !strings.Contains(d.Action, "busy") {
		t.Errorf("row while the worker holds the record: %+v", d)
	}
	if n := b.pure.Calls("renew"); n != 0 {
		t.Fatalf("renew calls while the worker holds the lease = %d", n)
	}

	// Waiting (the default): --fix meets the lease, the worker finishes,
	// --fix reads the renewed expiry and renews nothing more.
	spy := &leaseSpy{Refresher: b.svc, leased: make(chan struct{})}
	fixed := make(chan ReconcileReport, 1)
	go func() {
		rep, err := b.ops.Reconcile(ctx, ReconcileOptions{Providers: b.providers, Fix: true, Refresher: spy})
		if err != nil {
			t.Error(err)
		}
		fixed <- rep
	}()
	select {
	case <-spy.leased:
	case <-ctx.Done():
		t.Fatal("--fix never met the worker's lease")
	}
	if n := b.pure.Calls("renew"); n != 0 {
		t.Fatalf("renew calls while the worker holds the lease = %d", n)
	}
	close(gate.release)
	if err := <-worked; err != nil {
		t.Fatalf("worker: %v", err)
	}
	rep = <-fixed
	if d := drift(t, rep, "sub_race", DriftExpiryShort); !d.Fixed || !strings.Contains(d.Action, "nothing to change") {
		t.Errorf("row after the worker renewed: %+v", d)
	}
	if n := b.pure.Calls("renew"); n != 1 {
		t.Errorf("renew calls = %d, want exactly 1", n)
	}
	if n := len(auditsOf(b.audits(t, "sub_race"), events.AuditAccountRenewed)); n != 1 {
		t.Errorf("account.renewed audits = %d, want 1", n)
	}
	if after := b.stored(t, "sub_race"); after.Lease != nil || after.Step != nil {
		t.Errorf("record after both: lease %+v, step %+v", after.Lease, after.Step)
	}
}

func TestReconcileFixNeverDeletesOrCreates(t *testing.T) {
	t.Parallel()
	b := setupReconcile(t)
	ctx := context.Background()
	month := time.Now().Add(29 * 24 * time.Hour)

	// Canceled, past its deletion date, still enabled: the deletion is the worker's.
	gone := record("sub_gone", pureStd, b.pureAccount(t, true), month)
	gone.Desired.Status, gone.Desired.DeleteAt = provisioning.StatusCanceled, time.Now().Add(-time.Hour)
	b.put(t, gone)
	// Disabled behind vpnbill's back, and owed a new account of another
	// package: the record's next step is a create, which --fix leaves.
	moved := record("sub_moved", billing.Plan{ID: "hb-monthly", Provider: "purevpn", PackageType: "HIGH-BW", PeriodDays: 30}, b.pureAccount(t, false), month)
	moved.Actual.PlanID, moved.Actual.PackageType, moved.Actual.PeriodDays = pureStd.ID, pureStd.PackageType, pureStd.PeriodDays
	b.put(t, moved)

	rep := b.fix(t, ReconcileOptions{})
	if d := drift(t, rep, "sub_gone", DriftEnabledShouldBeSuspended); d.Fixed || d.Remedy != remedyWorker {
		t.Errorf("enabled past its deletion: %+v", d)
	}
	if d := drift(t, rep, "sub_gone", DriftShouldBeDeleted); d.Fixed {
		t.Errorf("should_be_deleted fixed: %+v", d)
	}
	if d := drift(t, rep, "sub_moved", DriftDisabledShouldBeEnabled); d.Fixed || !strings.Contains(d.Action, "stopped before create") || d.Remedy != remedyWorker {
		t.Errorf("a record whose next step is a create: %+v", d)
	}
	if rep.Unfixed() != 3 {
		t.Errorf("unfixed = %d, want 3: %+v", rep.Unfixed(), rep.Drift)
	}
	if b.pure.Calls("delete_account") != 0 || b.pure.Calls("create") != 2 { // the test's two
		t.Errorf("--fix deleted or created: %d deletes, %d creates", b.pure.Calls("delete_account"), b.pure.Calls("create"))
	}
	if a, ok := b.pure.Account(gone.Actual.Username); !ok || !a.Enabled {
		t.Error("--fix changed an account past its deletion date")
	}

	// Refresh itself stops before the deletion, and says so.
	rf, err := b.svc.Refresh(ctx, "sub_gone")
	if !errors.Is(err, provisioning.ErrLeftToWorker) || rf.Left != "delete" || !rf.Read || strings.Join(rf.Steps, " ") != "status" {
		t.Errorf("Refresh of a record due for deletion: %+v, %v", rf, err)
	}
	if b.pure.Calls("delete_account") != 0 || !b.stored(t, "sub_gone").Actual.Exists {
		t.Error("Refresh deleted the account")
	}
	if l := b.stored(t, "sub_gone").Lease; l != nil {
		t.Errorf("lease left: %+v", l)
	}
}

func TestRefreshLeavesAMissingAccountAlone(t *testing.T) {
	t.Parallel()
	b := setupReconcile(t)
	b.put(t, record("sub_ghost", pureStd, "pvghost01", time.Now().Add(29*24*time.Hour)))
	rf, err := b.svc.Refresh(context.Background(), "sub_ghost")
	if !errors.Is(err, provisioning.ErrAccountMissing) || rf.Read || rf.Found.Exists {
		t.Errorf("Refresh of an account the provider lacks: %+v, %v", rf, err)
	}
	if r := b.stored(t, "sub_ghost"); !r.Actual.Exists || r.Step != nil || r.Lease != nil {
		t.Errorf("record after: exists %t, step %+v, lease %+v; want it as it was", r.Actual.Exists, r.Step, r.Lease)
	}
	if b.pure.Calls("create") != 0 {
		t.Error("Refresh created an account")
	}
	if _, err := b.svc.Refresh(context.Background(), "sub_nobody"); !errors.Is(err, provisioning.ErrNotFound) {
		t.Errorf("Refresh of no record: %v", err)
	}
	if _, err := b.ops.Reconcile(context.Background(), ReconcileOptions{Providers: b.providers, Fix: true}); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("--fix without a Refresher: %v", err)
	}
}

func TestReconcileGraceZeroIsZero(t *testing.T) {
	t.Parallel()
	b := setupReconcile(t)
	// A VPNKI order paid through ten minutes ago (an hour and ten minutes
	// by the reconcile's clock).
	b.put(t, record("sub_ended", tunnelStd, b.tunnel(t), time.Now().Add(-10*time.Minute)))
	for _, tc := range []struct {
		grace *time.Duration
		want  int
	}{
		{nil, 0},                   // the default, 72h: within the grace period
		{new(time.Duration(0)), 1}, // zero: ended
		{new(30 * time.Minute), 1}, // ended half an hour ago
		{new(2 * time.Hour), 0},    // not yet
	} {
		rep, err := b.ops.Reconcile(context.Background(), ReconcileOptions{Providers: b.providers, Grace: tc.grace})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Drift) != tc.want || (tc.want == 1 && rep.Drift[0].Kind != DriftShouldBeDeleted) {
			t.Errorf("grace %v: drift %+v, want %d should_be_deleted", tc.grace, rep.Drift, tc.want)
		}
	}
}
