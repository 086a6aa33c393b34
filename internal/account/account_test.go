package account_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/account"
	"github.com/vpnbill/vpnbill/internal/providers"
)

var (
	t0  = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	pol = account.Policy{Grace: 72 * time.Hour, AdoptAfter: 30 * time.Second}

	// The capability combinations: PureVPN's, VPNKI's, and the corners.
	pureCaps    = providers.CapabilitiesOf(providers.PureVPN)
	tunnelCaps  = providers.CapabilitiesOf(providers.VPNKI)
	noCaps      = providers.Capabilities{}
	suspendOnly = providers.Capabilities{Suspend: true}
	renewOnly   = providers.Capabilities{Renew: true}

	std   = account.Plan{ID: "std", Provider: "purevpn", PackageType: "STANDARD", PeriodDays: 30}
	sstp  = account.Plan{ID: "sstp", Provider: "purevpn", PackageType: "SSTP", PeriodDays: 30}
	std90 = account.Plan{ID: "std90", Provider: "purevpn", PackageType: "STANDARD", PeriodDays: 90}
	alias = account.Plan{ID: "std-alias", Provider: "purevpn", PackageType: "STANDARD", PeriodDays: 30}
)

func day(n int) time.Time { return t0.AddDate(0, 0, n) }

// made is an account made for plan p, enabled, expiring at expiry.
func made(p account.Plan, expiry time.Time) account.Account {
	return account.Account{Exists: true, Enabled: true, Provider: p.Provider, PlanID: p.ID,
		PackageType: p.PackageType, PeriodDays: p.PeriodDays, Expiry: expiry, Generation: 1}
}

func active(mod func(*account.State)) account.State {
	s := account.State{Status: account.StatusActive, PaidThrough: day(30), Plan: std, Account: made(std, day(30))}
	if mod != nil {
		mod(&s)
	}
	return s
}

func TestDecide(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		state  account.State
		caps   providers.Capabilities
		now    time.Time
		target account.Target
		action account.Action
		email  string
		wake   time.Time
	}{
		// Nothing bought.
		{"nothing bought", account.State{}, pureCaps, t0, account.TargetNone, account.None, "", time.Time{}},
		{"nothing bought, an email owed", account.State{Mail: []string{"x"}}, pureCaps, t0, account.TargetNone, account.Email, "x", time.Time{}},

		// Active: create, then keep it enabled and paid up.
		{"paid, no account: create", active(func(s *account.State) { s.Account = account.Account{} }), pureCaps, t0, account.TargetEnabled, account.Create, "", time.Time{}},
		{"paid, account matches", active(nil), pureCaps, t0, account.TargetEnabled, account.None, "", time.Time{}},
		{"paid, account disabled: enable", active(func(s *account.State) { s.Account.Enabled = false }), pureCaps, t0, account.TargetEnabled, account.Enable, "", time.Time{}},
		{"paid, disabled, no suspend: nothing to enable", active(func(s *account.State) { s.Account.Enabled = false }), renewOnly, t0, account.TargetEnabled, account.None, "", time.Time{}},
		{"renewed: expiry short, renew", active(func(s *account.State) { s.PaidThrough = day(60) }), pureCaps, t0, account.TargetEnabled, account.Renew, "", time.Time{}},
		{"renewed within the slack: no renew", active(func(s *account.State) { s.PaidThrough = day(32) }), pureCaps, t0, account.TargetEnabled, account.None, "", time.Time{}},
		{"one-off: never renewed", active(func(s *account.State) { s.OneOff, s.PaidThrough = true, day(60) }), pureCaps, t0, account.TargetEnabled, account.None, "", day(60).Add(pol.Grace)},
		{"no expiry at the provider: vpnbill extends it", active(func(s *account.State) { s.Plan, s.Account.Expiry, s.PaidThrough = std, day(30), day(60) }), tunnelCaps, t0, account.TargetEnabled, account.Extend, "", day(60).Add(pol.Grace)},
		{"no expiry at the provider: ends after paid-through plus grace", active(nil), tunnelCaps, day(33), account.TargetDeleted, account.Delete, "", time.Time{}},
		{"no expiry, before the end: wake at it", active(nil), tunnelCaps, day(10), account.TargetEnabled, account.None, "", day(30).Add(pol.Grace)},

		// Plan changes.
		{"new package: a new account", active(func(s *account.State) { s.Plan = sstp }), pureCaps, t0, account.TargetEnabled, account.Create, "", time.Time{}},
		{"new period: a new account", active(func(s *account.State) { s.Plan = std90 }), pureCaps, t0, account.TargetEnabled, account.Create, "", time.Time{}},
		{"same package under another plan id: recorded only", active(func(s *account.State) { s.Plan = alias }), pureCaps, t0, account.TargetEnabled, account.PlanChanged, "", time.Time{}},
		{"another provider: a new account there", active(func(s *account.State) { s.Plan = account.Plan{ID: "tun", Provider: "vpnki"} }), pureCaps, t0, account.TargetEnabled, account.Create, "", time.Time{}},
		{"from a provider without expiry to another provider: a new account there", active(func(s *account.State) {
			s.Account = made(account.Plan{ID: "tun", Provider: "vpnki"}, day(30))
		}), tunnelCaps, t0, account.TargetEnabled, account.Create, "", day(30).Add(pol.Grace)},
		{"new package, provider keeps one account for any: recorded only", active(func(s *account.State) { s.Plan = sstp }), tunnelCaps, t0, account.TargetEnabled, account.PlanChanged, "", day(30).Add(pol.Grace)},
		{"account made before plans were recorded: same", active(func(s *account.State) { s.Plan, s.Account.PlanID = sstp, "" }), pureCaps, t0, account.TargetEnabled, account.PlanChanged, "", time.Time{}},

		// Suspension.
		{"past due within the grace period: still enabled, wake at its end",
			active(func(s *account.State) { s.Status, s.SuspendAt = account.StatusSuspended, day(3) }), pureCaps, t0, account.TargetEnabled, account.None, "", day(3)},
		{"grace over: disable", active(func(s *account.State) { s.Status, s.SuspendAt = account.StatusSuspended, day(3) }), pureCaps, day(3), account.TargetDisabled, account.Disable, "", time.Time{}},
		{"grace over, no suspend: the account is deleted",
			active(func(s *account.State) { s.Status, s.SuspendAt = account.StatusSuspended, day(3) }), tunnelCaps, day(3), account.TargetDisabled, account.Suspend, "", time.Time{}},
		{"suspended and disabled: nothing", active(func(s *account.State) {
			s.Status, s.SuspendAt, s.Account.Enabled = account.StatusSuspended, day(3), false
		}), pureCaps, day(4), account.TargetDisabled, account.None, "", time.Time{}},
		{"suspended, no suspend, gone: nothing", active(func(s *account.State) {
			s.Status, s.SuspendAt, s.Account.Exists = account.StatusSuspended, day(3), false
		}), tunnelCaps, day(4), account.TargetDisabled, account.None, "", time.Time{}},
		{"paid again after a suspension without suspend: a new account", active(func(s *account.State) { s.Account.Exists = false }), tunnelCaps, t0, account.TargetEnabled, account.Create, "", day(30).Add(pol.Grace)},

		// Cancellation and refunds: disabled, then deleted.
		{"canceled: disable, wake at deletion", active(func(s *account.State) { s.Status, s.DeleteAt = account.StatusCanceled, day(40) }), pureCaps, t0, account.TargetDisabled, account.Disable, "", day(40)},
		{"refunded: disable", active(func(s *account.State) { s.Status, s.DeleteAt = account.StatusRefunded, day(40) }), suspendOnly, t0, account.TargetDisabled, account.Disable, "", day(40)},
		{"canceled, no suspend: deleted now", active(func(s *account.State) { s.Status, s.DeleteAt = account.StatusCanceled, day(40) }), noCaps, t0, account.TargetDisabled, account.Suspend, "", day(40)},
		{"retention over: delete", active(func(s *account.State) { s.Status, s.DeleteAt = account.StatusCanceled, day(40) }), pureCaps, day(40), account.TargetDeleted, account.Delete, "", time.Time{}},
		{"retention over, already gone: recorded", active(func(s *account.State) {
			s.Status, s.DeleteAt, s.Account.Exists = account.StatusRefunded, day(40), false
		}), tunnelCaps, day(41), account.TargetDeleted, account.MarkDeleted, "", time.Time{}},
		{"retention over, recorded: nothing", active(func(s *account.State) {
			s.Status, s.DeleteAt, s.Account.Exists, s.Account.Deleted = account.StatusCanceled, day(40), false, true
		}), tunnelCaps, day(41), account.TargetDeleted, account.None, "", time.Time{}},
		{"canceled before any account: nothing", active(func(s *account.State) {
			s.Status, s.DeleteAt, s.Account = account.StatusCanceled, day(40), account.Account{}
		}), pureCaps, day(41), account.TargetDeleted, account.None, "", time.Time{}},

		// What comes after the provider matches.
		{"a replaced account: retire it", active(func(s *account.State) { s.Retired = 1 }), pureCaps, t0, account.TargetEnabled, account.Retire, "", time.Time{}},
		{"an email owed: send the oldest", active(func(s *account.State) { s.Mail = []string{"welcome.1", "suspended.1"} }), pureCaps, t0, account.TargetEnabled, account.Email, "welcome.1", time.Time{}},
		{"the provider first, then the email", active(func(s *account.State) { s.Account.Enabled, s.Mail = false, []string{"welcome.1"} }), pureCaps, t0, account.TargetEnabled, account.Enable, "", time.Time{}},

		// Review and adoption hold everything.
		{"in review: nothing", active(func(s *account.State) { s.Account, s.InReview = account.Account{}, true }), pureCaps, t0, account.TargetEnabled, account.None, "", time.Time{}},
		{"uncertain create: wait to adopt", active(func(s *account.State) { s.Account, s.AdoptSince = account.Account{}, t0 }), tunnelCaps, t0.Add(10 * time.Second), account.TargetEnabled, account.None, "", t0.Add(30 * time.Second)},
		{"uncertain create: adopt when due", active(func(s *account.State) { s.Account, s.AdoptSince = account.Account{}, t0 }), tunnelCaps, t0.Add(30 * time.Second), account.TargetEnabled, account.Adopt, "", t0.Add(30 * time.Second)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := account.Decide(tc.state, tc.caps, tc.now, pol)
			want := account.Decision{Target: tc.target, Action: tc.action, Email: tc.email, Wake: tc.wake}
			if got != want {
				t.Errorf("Decide = %s, want %s", show(got), show(want))
			}
		})
	}
}

func show(d account.Decision) string {
	return fmt.Sprintf("{target %s, action %q, email %q, wake %s}", d.Target, d.Action, d.Email, d.Wake.Format(time.RFC3339))
}

func TestShort(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		paid, expiry time.Time
		short        bool
	}{
		{day(30), day(30), false},
		{day(33), day(30), false}, // exactly the slack
		{day(34), day(30), true},
		{day(60), day(30), true},
		{day(30), day(60), false},
	} {
		if got := account.Short(tc.paid, tc.expiry); got != tc.short {
			t.Errorf("Short(paid %s, expiry %s) = %t, want %t", tc.paid.Format(time.DateOnly), tc.expiry.Format(time.DateOnly), got, tc.short)
		}
	}
}

func TestFinal(t *testing.T) {
	t.Parallel()
	for s, final := range map[account.Status]bool{
		account.StatusNone: false, account.StatusActive: false, account.StatusSuspended: false,
		account.StatusCanceled: true, account.StatusRefunded: true,
	} {
		if s.Final() != final {
			t.Errorf("%q.Final() = %t", s, !final)
		}
	}
}

// Zero grace is a choice: suspend as soon as Stripe says past_due, and end
// a service without a provider expiry at its paid-through time.
func TestZeroGrace(t *testing.T) {
	t.Parallel()
	zero := account.Policy{Grace: 0}
	if d := account.Decide(active(nil), tunnelCaps, day(30), zero); d.Target != account.TargetDeleted || d.Action != account.Delete {
		t.Errorf("at paid-through with zero grace: %s, want deleted", show(d))
	}
	if _, wake := account.TargetOf(active(nil), tunnelCaps, t0, zero); !wake.Equal(day(30)) {
		t.Errorf("wake %s, want paid-through %s", wake, day(30))
	}
}
