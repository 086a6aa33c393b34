package registry_test

import (
	"strings"
	"testing"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/registry"
)

// A plans file is refused, plan by plan, where its provider does not exist
// or does not sell the plan's package type or period.
func TestCheckPlanInPlansFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		yaml    string
		want    []string // each must appear in the error; none: the file loads
		notWant string   // must not appear in the error
	}{
		{name: "every provider's defaults", yaml: "plans:\n  - id: a\n    provider: purevpn\n  - id: b\n    provider: vpnki\n"},
		{name: "purevpn's package types and periods",
			yaml: "plans:\n  - id: a\n    provider: purevpn\n    package_type: SSTP\n    period_days: 365\n" +
				"  - id: b\n    provider: purevpn\n    package_type: HIGH-BW\n    period_days: 90\n"},
		{name: "a vpnki term of any length", yaml: "plans:\n  - id: a\n    provider: vpnki\n    period_days: 7\n"},
		{
			name: "unknown provider",
			yaml: "plans:\n  - id: a\n    provider: nordvpn\n",
			want: []string{`plan 1 (a): provider must be purevpn or vpnki, not "nordvpn"`},
		},
		{
			name: "provider spelled otherwise",
			yaml: "plans:\n  - id: a\n    provider: PureVPN\n",
			want: []string{`plan 1 (a): provider must be purevpn or vpnki, not "PureVPN"`},
		},
		{
			name: "missing provider",
			yaml: "plans:\n  - id: a\n",
			want: []string{"plan 1 (a): provider is required"},
		},
		{
			name: "purevpn package type",
			yaml: "plans:\n  - id: a\n    provider: purevpn\n    package_type: standard\n",
			want: []string{`plan 1 (a): package_type must be STANDARD, SSTP or HIGH-BW, not "standard"`},
		},
		{
			name:    "purevpn period",
			yaml:    "plans:\n  - id: a\n    provider: vpnki\n    period_days: 31\n  - id: b\n    provider: purevpn\n    period_days: 31\n",
			want:    []string{"plan 2 (b): period_days must be 30, 60, 90, 180 or 365, not 31"},
			notWant: "plan 1",
		},
		{
			name: "every problem at once",
			yaml: "plans:\n  - id: a\n    provider: purevpn\n    package_type: Y\n    period_days: 7\n  - id: b\n    provider: x\n",
			want: []string{`plan 1 (a): package_type must be STANDARD, SSTP or HIGH-BW, not "Y"; period_days must be 30, 60, 90, 180 or 365, not 7`,
				`plan 2 (b): provider must be purevpn or vpnki, not "x"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := billing.ParseCatalog([]byte(tt.yaml), registry.CheckPlan)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseCatalog = %+v, want an error", c.Plans())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tt.notWant != "" && strings.Contains(err.Error(), tt.notWant) {
				t.Errorf("error %q says %q", err, tt.notWant)
			}
		})
	}
}

// Every provider vpnbill implements has a plan check: none is refused as unknown.
func TestCheckPlanKnowsEveryProvider(t *testing.T) {
	t.Parallel()
	for _, n := range providers.Names() {
		p := billing.Plan{ID: "p", Provider: string(n), PackageType: "STANDARD", PeriodDays: 30}
		if err := registry.CheckPlan(p); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}
