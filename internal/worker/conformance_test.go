package worker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki/vpnkisim"
	"github.com/vpnbill/vpnbill/internal/provisioning"
	"github.com/vpnbill/vpnbill/internal/worker"
)

// faults is what both simulators can do to a call.
type faults interface {
	FailNext(n, status int)
	DropNext(n int)
	ThrottleNext(n int, retryAfter time.Duration)
}

type subject struct {
	name   string
	plan   billing.Plan
	prov   provisioning.Provider
	faults faults
	deny   func(bool) // reject the credentials (PureVPN) or key (VPNKI)
	count  func() int // accounts at the provider
}

// subjects returns both providers behind the worker's interface, each
// talking HTTP to its simulator.
func subjects(t *testing.T) []subject {
	t.Helper()
	pure, pureURL := harness.PureVPN(t, purevpnsim.Options{User: "u", Password: "p"})
	pc, err := purevpn.New(purevpn.Config{URL: pureURL, User: "u", Password: "p", RetryFor: new(5 * time.Second), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tun, tunURL := harness.VPNKI(t, vpnkisim.Options{Key: "k", Address: "vpn.example.net"})
	vc, err := vpnki.New(vpnki.Config{URL: tunURL, Key: "k", RetryFor: new(5 * time.Second), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return []subject{
		{"purevpn", billing.Plan{ID: "std", Provider: "purevpn", PackageType: "STANDARD", PeriodDays: 30},
			worker.PureVPN{Client: pc}, pure, pure.RejectCredentials, func() int { return len(pure.Accounts()) }},
		{"vpnki", billing.Plan{ID: "tun", Provider: "vpnki", PackageType: "STANDARD", PeriodDays: 30},
			worker.VPNKI{Client: vc}, tun, tun.RejectKey, func() int { return len(tun.Tunnels()) }},
	}
}

// TestProviderConformance runs one suite against both providers through
// provisioning.Provider: what every provider must do, and, per capability,
// what only some can.
func TestProviderConformance(t *testing.T) {
	t.Parallel()
	for _, s := range subjects(t) {
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			caps := s.prov.Capabilities()
			if caps != providers.CapabilitiesOf(providers.Name(s.name)) {
				t.Errorf("capabilities %+v differ from the matrix", caps)
			}

			creds, err := s.prov.Create(ctx, s.plan)
			if err != nil || creds.Username == "" || creds.Password == "" {
				t.Fatalf("create: %+v, %v", creds.Username, err)
			}
			got, err := s.prov.Lookup(ctx, creds.Username)
			if err != nil || !got.Exists || !got.Enabled {
				t.Fatalf("lookup after create: %+v, %v", got, err)
			}
			if caps.Renew && (got.Expiry.IsZero() || time.Until(got.Expiry) < 29*24*time.Hour) {
				t.Errorf("a provider that renews must report the expiry of a new account: %v", got.Expiry)
			}

			if caps.Suspend {
				if err := s.prov.SetEnabled(ctx, creds.Username, false); err != nil {
					t.Fatal(err)
				}
				if got, _ := s.prov.Lookup(ctx, creds.Username); got.Enabled || !got.Exists {
					t.Errorf("after disable: %+v", got)
				}
				if err := s.prov.SetEnabled(ctx, creds.Username, true); err != nil {
					t.Fatal(err)
				}
				if got, _ := s.prov.Lookup(ctx, creds.Username); !got.Enabled {
					t.Errorf("after enable: %+v", got)
				}
			} else if err := s.prov.SetEnabled(ctx, creds.Username, false); err == nil {
				t.Error("SetEnabled must refuse where the provider cannot suspend")
			}

			if caps.Renew {
				before, _ := s.prov.Lookup(ctx, creds.Username)
				if err := s.prov.Renew(ctx, creds.Username, s.plan); err != nil {
					t.Fatal(err)
				}
				after, _ := s.prov.Lookup(ctx, creds.Username)
				if d := after.Expiry.Sub(before.Expiry); d < 29*24*time.Hour {
					t.Errorf("renew moved the expiry by %s, want the plan's 30 days", d)
				}
			} else if err := s.prov.Renew(ctx, creds.Username, s.plan); err == nil {
				t.Error("Renew must refuse where the provider keeps no expiry")
			}

			if caps.ChangePassword {
				if err := s.prov.ChangePassword(ctx, creds.Username, "N3wPass0"); err != nil {
					t.Error(err)
				}
			} else if err := s.prov.ChangePassword(ctx, creds.Username, "N3wPass0"); err == nil {
				t.Error("ChangePassword must refuse where the provider has none")
			}

			if caps.List {
				all, err := s.prov.List(ctx)
				if err != nil || len(all) != 1 || all[0].Username != creds.Username {
					t.Errorf("list = %+v, %v", all, err)
				}
			}

			if err := s.prov.Delete(ctx, creds.Username); err != nil {
				t.Fatal(err)
			}
			if got, err := s.prov.Lookup(ctx, creds.Username); err != nil || got.Exists {
				t.Errorf("after delete: %+v, %v", got, err)
			}
			if err := s.prov.Delete(ctx, creds.Username); err != nil {
				t.Errorf("deleting what is gone must succeed (idempotent): %v", err)
			}

			// Error classes, through real HTTP exchanges.
			s.faults.FailNext(1, 503)
			if _, err := s.prov.Create(ctx, s.plan); !errors.Is(err, providers.ErrUnavailable) {
				t.Errorf("create after a 503: %v, want Unavailable (and not re-sent)", err)
			}
			n := s.count()
			s.faults.DropNext(1)
			if _, err := s.prov.Create(ctx, s.plan); !errors.Is(err, providers.ErrUncertain) {
				t.Errorf("create whose answer was lost: %v, want Uncertain", err)
			}
			if s.count() != n+1 {
				t.Errorf("the lost create committed %d accounts, want exactly 1 (never re-sent)", s.count()-n)
			}
			s.faults.ThrottleNext(1, time.Second)
			if _, err := s.prov.Create(ctx, s.plan); err != nil {
				t.Errorf("create after a 429 with Retry-After: %v, want it to wait and succeed", err)
			}
			s.faults.FailNext(2, 502)
			if _, err := s.prov.Lookup(ctx, creds.Username); err != nil {
				t.Errorf("lookup after two 502s: %v, want retried to success (idempotent)", err)
			}
			s.deny(true)
			if _, err := s.prov.Create(ctx, s.plan); !errors.Is(err, providers.ErrUnauthorized) {
				t.Errorf("create with rejected credentials: %v, want Unauthorized", err)
			}
			s.deny(false)
		})
	}
}
