package ops

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/embednats"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/notify"
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
	topo      *events.Topology
	pure      *purevpnsim.Sim
	tunnels   *vpnkisim.Sim
	pureAPI   *purevpn.Client
	vpnkiAPI  *vpnki.Client
	providers map[providers.Name]provisioning.Provider
}

// setupReconcile runs an embedded JetStream with vpnbill's streams and
// both provider simulators, reached through the real clients.
func setupReconcile(t *testing.T) *reconcileBundle {
	t.Helper()
	b := &reconcileBundle{}
	ns, err := embednats.Start(embednats.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Stop)
	nc, js, err := ns.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if b.topo, err = events.Setup(context.Background(), js, events.Config{}); err != nil {
		t.Fatal(err)
	}
	b.pure = purevpnsim.New(purevpnsim.Options{User: simUser, Password: simPassword})
	ps := httptest.NewServer(b.pure)
	t.Cleanup(ps.Close)
	b.tunnels = vpnkisim.New(vpnkisim.Options{Key: simKey, Address: "vpn.example.net"})
	vs := httptest.NewServer(b.tunnels)
	t.Cleanup(vs.Close)
	if b.pureAPI, err = purevpn.New(purevpn.Config{URL: ps.URL, User: simUser, Password: simPassword}); err != nil {
		t.Fatal(err)
	}
	if b.vpnkiAPI, err = vpnki.New(vpnki.Config{URL: vs.URL + "/index.php", Key: simKey}); err != nil {
		t.Fatal(err)
	}
	b.providers = map[providers.Name]provisioning.Provider{
		providers.PureVPN: worker.PureVPN{Client: b.pureAPI},
		providers.VPNKI:   worker.VPNKI{Client: b.vpnkiAPI},
	}
	// An hour ahead: records written now have not been written for an hour.
	b.ops = &Ops{JS: js, Now: func() time.Time { return time.Now().Add(time.Hour) }}
	return b
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
		Desired: provisioning.Desired{Plan: plan, Status: provisioning.StatusActive, PaidThrough: paidThrough,
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

	var fixes []Drift
	rep, err := b.ops.Reconcile(context.Background(), ReconcileOptions{Providers: b.providers, Fix: true,
		OnFix: func(d Drift) { fixes = append(fixes, d) }})
	if err != nil {
		t.Fatal(err)
	}
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
	if !a.Expiry.After(short.Expiry) || a.Expiry.Add(renewSlack).Before(time.Now().Add(50*24*time.Hour)) {
		t.Errorf("sub_short expiry %s (was %s), want within 72h of paid-through", a.Expiry, short.Expiry)
	}
	if n := b.pure.Calls("renew"); n != 1 {
		t.Errorf("renew calls = %d, want 1", n)
	}
	if len(b.pure.Accounts()) != accounts || len(b.tunnels.Tunnels()) != tunnels {
		t.Errorf("--fix deleted or made accounts: PureVPN %d → %d, VPNKI %d → %d",
			accounts, len(b.pure.Accounts()), tunnels, len(b.tunnels.Tunnels()))
	}
	if b.pure.Calls("delete_account") != 0 || b.tunnels.Calls("del_tunnel") != 0 {
		t.Error("--fix called a delete")
	}

	// Fixed drift is gone on the next run; a second --fix renews nothing more.
	rep, err = b.ops.Reconcile(context.Background(), ReconcileOptions{Providers: b.providers, Fix: true})
	if err != nil {
		t.Fatal(err)
	}
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
	gone := httptest.NewServer(b.pure)
	gone.Close()
	down, err := purevpn.New(purevpn.Config{URL: gone.URL, User: simUser, Password: simPassword, RetryFor: 200 * time.Millisecond})
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
