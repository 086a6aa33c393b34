package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing"
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
			Plan:   billing.Plan{ID: "std-monthly", Name: "Standard VPN, monthly", Provider: "purevpn", PackageType: "STANDARD", PeriodDays: 30},
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
	if len(b.pure.Accounts()) != accounts || len(b.tunnels.Tunnels()) != tunnels {
		t.Error("reconcile --fix deleted or made an account")
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
