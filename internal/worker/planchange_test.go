package worker_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing"
)

// A plan change to a plan of the other provider makes the account at the
// new provider, emails its credentials, then deletes the old account at
// the old provider: one account in the end, at the right place.
func TestPlanChangeAcrossProviders(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ from, to string }{{"std", "tun"}, {"tun", "std"}} {
		t.Run(tc.from+"→"+tc.to, func(t *testing.T) {
			t.Parallel()
			r := w.newRun(t, t0)
			at := t0.Add(7 * 24 * time.Hour)
			r.play(t, []phase{
				{t0, purchase(r, t0, tc.from)},
				{at, []billing.Fact{subState(r, at, "active", tc.to, false, month(t0, 1))}},
			}, nil)
			pure, tunnels := len(r.pure.Accounts()), len(r.tunnels.Tunnels())
			wantPure, wantTunnels := 0, 1
			if tc.to == "std" {
				wantPure, wantTunnels = 1, 0
			}
			if pure != wantPure || tunnels != wantTunnels {
				t.Errorf("PureVPN accounts %d, VPNKI tunnels %d; want %d and %d", pure, tunnels, wantPure, wantTunnels)
			}
			if c := r.pure.Calls("create") + r.tunnels.Calls("add_tunnel"); c != 2 {
				t.Errorf("%d creates in all, want 2: one at each provider", c)
			}
			var welcomes []string
			for _, m := range r.w.mail.Messages() {
				if slices.Contains(m.To, r.email) && strings.HasPrefix(m.MessageID, "<welcome.") {
					welcomes = append(welcomes, m.MessageID)
				}
			}
			if len(welcomes) != 2 {
				t.Errorf("welcome emails %v, want the first account's and the new one's", welcomes)
			}
			rec, _, err := r.w.store.Get(t.Context(), r.key)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Actual.Provider != plan(tc.to).Provider || len(rec.Actual.Retired) != 0 || rec.Actual.PlanID != tc.to {
				t.Errorf("record: provider %s, plan %s, retired %v; want %s, %s, none",
					rec.Actual.Provider, rec.Actual.PlanID, rec.Actual.Retired, plan(tc.to).Provider, tc.to)
			}
		})
	}
}
