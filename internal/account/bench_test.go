package account_test

import (
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/account"
	"github.com/vpnbill/vpnbill/internal/providers"
)

// BenchmarkDecide is the account core's decision for a record, once per
// event and once per step the worker takes, in the states a record is in
// most: nothing to do, an account to create, a renewal owed, an email
// owed, a canceled account to delete.
func BenchmarkDecide(b *testing.B) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	policy := account.Policy{Grace: 72 * time.Hour, AdoptAfter: 30 * time.Second}
	plan := account.Plan{ID: "std-monthly", Provider: "purevpn", PackageType: "STANDARD", PeriodDays: 30}
	made := account.Account{Exists: true, Enabled: true, Provider: plan.Provider, PlanID: plan.ID,
		PackageType: plan.PackageType, PeriodDays: plan.PeriodDays, Expiry: now.AddDate(0, 0, 20), Generation: 1}
	paid := account.State{Status: account.StatusActive, PaidThrough: now.AddDate(0, 0, 20), Plan: plan, Account: made}
	cases := []struct {
		name  string
		state func(s *account.State)
		caps  providers.Capabilities
		want  account.Action
	}{
		{"steady", func(*account.State) {}, providers.CapabilitiesOf(providers.PureVPN), account.None},
		{"create", func(s *account.State) { s.Account = account.Account{} }, providers.CapabilitiesOf(providers.PureVPN), account.Create},
		{"renew", func(s *account.State) { s.PaidThrough = now.AddDate(0, 1, 20) }, providers.CapabilitiesOf(providers.PureVPN), account.Renew},
		{"email", func(s *account.State) { s.Mail = []string{"renewed.sub_1.in_2"} }, providers.CapabilitiesOf(providers.VPNKI), account.Email},
		{"delete", func(s *account.State) {
			s.Status, s.DeleteAt = account.StatusCanceled, now.Add(-time.Hour)
		}, providers.CapabilitiesOf(providers.PureVPN), account.Delete},
	}
	for _, tc := range cases {
		s := paid
		tc.state(&s)
		b.Run("state="+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if d := account.Decide(s, tc.caps, now, policy); d.Action != tc.want {
					b.Fatalf("Decide: %s, want %s", d.Action, tc.want)
				}
			}
		})
	}
}
