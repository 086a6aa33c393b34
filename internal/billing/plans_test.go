package billing

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// designExample is the plans file of DESIGN.md, verbatim.
const designExample = `plans:
  - id: std-monthly              # also accepted as checkout metadata "plan"
    name: Standard VPN, monthly
    stripe_prices: [price_123, std_monthly]   # price ids or lookup keys
    provider: purevpn            # purevpn | vpnki
    package_type: STANDARD       # purevpn: STANDARD | SSTP | HIGH-BW
    period_days: 30              # purevpn: 30 | 60 | 90 | 180 | 365
  - id: tunnel-monthly
    stripe_prices: [price_456]
    provider: vpnki
`

func TestParseCatalogDesignExample(t *testing.T) {
	t.Parallel()
	c, err := ParseCatalog([]byte(designExample))
	if err != nil {
		t.Fatal(err)
	}
	std := Plan{
		ID: "std-monthly", Name: "Standard VPN, monthly", StripePrices: []string{"price_123", "std_monthly"},
		Provider: "purevpn", PackageType: "STANDARD", PeriodDays: 30, Trial: TrialProvision,
	}
	tunnel := Plan{
		ID: "tunnel-monthly", Name: "tunnel-monthly", StripePrices: []string{"price_456"},
		Provider: "vpnki", PackageType: "STANDARD", PeriodDays: 30, Trial: TrialProvision, // defaults
	}
	if got := c.Plans(); !reflect.DeepEqual(got, []Plan{std, tunnel}) {
		t.Errorf("Plans() = %+v", got)
	}
	lookups := []struct {
		key  string
		byID bool
		want *Plan
	}{
		{key: "std-monthly", byID: true, want: &std},
		{key: "tunnel-monthly", byID: true, want: &tunnel},
		{key: "price_123", byID: true},
		{key: "price_123", want: &std},
		{key: "std_monthly", want: &std}, // a lookup key
		{key: "price_456", want: &tunnel},
		{key: "std-monthly"}, // a plan id is not a price
		{key: "price_999"},
		{key: ""},
		{key: "", byID: true},
	}
	for _, l := range lookups {
		var got Plan
		var ok bool
		if l.byID {
			got, ok = c.ByID(l.key)
		} else {
			got, ok = c.ByPrice(l.key)
		}
		switch {
		case l.want == nil && ok:
			t.Errorf("lookup %q (byID %v) = %+v, want none", l.key, l.byID, got)
		case l.want != nil && (!ok || !reflect.DeepEqual(got, *l.want)):
			t.Errorf("lookup %q (byID %v) = %+v, %v; want %+v", l.key, l.byID, got, ok, *l.want)
		}
	}
}

// TestCatalogCopies: what the catalog hands out cannot change it.
func TestCatalogCopies(t *testing.T) {
	t.Parallel()
	plans := []Plan{{ID: "a", Provider: "vpnki", StripePrices: []string{"price_a"}}}
	c, err := NewCatalog(plans)
	if err != nil {
		t.Fatal(err)
	}
	plans[0].Provider = "purevpn"
	all := c.Plans()
	all[0].ID = "changed"
	p, _ := c.ByID("a")
	p.Name = "changed"
	if got, ok := c.ByPrice("price_a"); !ok || got.ID != "a" || got.Provider != "vpnki" || got.Name != "a" {
		t.Errorf("catalog changed through a copy: %+v", got)
	}
}

func TestParseCatalogInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want []string // each must appear in the error
	}{
		{name: "empty file", yaml: "", want: []string{"no plans"}},
		{name: "only comments", yaml: "# plans go here\n", want: []string{"no plans"}},
		{name: "empty list", yaml: "plans: []\n", want: []string{"no plans"}},
		{
			name: "unknown field",
			yaml: "plans:\n  - id: a\n    provider: vpnki\n    period: 30\n",
			want: []string{"parse", "field period not found"},
		},
		{name: "unknown top-level field", yaml: "plan:\n  - id: a\n", want: []string{"field plan not found"}},
		{name: "not YAML of plans", yaml: "plans: yes please\n", want: []string{"parse"}},
		{
			name: "duplicate id",
			yaml: "plans:\n  - id: a\n    provider: vpnki\n  - id: a\n    provider: purevpn\n",
			want: []string{"plan 2 (a): duplicate id"},
		},
		{
			name: "bad provider",
			yaml: "plans:\n  - id: a\n    provider: nordvpn\n",
			want: []string{`plan 1 (a): provider must be purevpn or vpnki, not "nordvpn"`},
		},
		{
			name: "missing provider",
			yaml: "plans:\n  - id: a\n",
			want: []string{"plan 1 (a): provider is required"},
		},
		{
			name: "a check's every problem",
			yaml: "plans:\n  - id: a\n    provider: purevpn\n    package_type: standard\n  - id: b\n    provider: purevpn\n",
			want: []string{`plan 1 (a): package_type must be STANDARD, not "standard"`, "plan 1 (a): one more problem", "plan 2 (b): one more problem"},
		},
		{
			name: "negative period",
			yaml: "plans:\n  - id: a\n    provider: vpnki\n    period_days: -30\n",
			want: []string{"plan 1 (a): period_days must be a number of days, not -30"},
		},
		{
			name: "price claimed twice",
			yaml: "plans:\n  - id: a\n    provider: vpnki\n    stripe_prices: [price_1]\n  - id: b\n    provider: vpnki\n    stripe_prices: [price_2, price_1]\n",
			want: []string{`plan 2 (b): stripe price "price_1" already belongs to plan a`},
		},
		{
			name: "empty price",
			yaml: "plans:\n  - id: a\n    provider: vpnki\n    stripe_prices: [price_1, \"\"]\n",
			want: []string{"plan 1 (a): empty stripe price"},
		},
		{
			name: "bad id",
			yaml: "plans:\n  - id: std monthly\n    provider: vpnki\n",
			want: []string{"plan 1 (std monthly): id must be"},
		},
		{
			name: "missing id",
			yaml: "plans:\n  - provider: vpnki\n",
			want: []string{"plan 1 (): id must be"},
		},
		{
			name: "every problem at once",
			yaml: "plans:\n  - id: a b\n    provider: x\n    trial: never\n    period_days: -7\n",
			want: []string{"id must be", "provider must be", "trial must be", "period_days must be"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseCatalog([]byte(tt.yaml), knownProviders, oneMoreProblem)
			if err == nil {
				t.Fatalf("ParseCatalog = %+v, want an error", c.Plans())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// knownProviders stands in for registry.CheckPlan (which imports billing):
// a plan's provider must be one it knows, and sell the plan's package.
func knownProviders(p Plan) error {
	switch {
	case p.Provider != "purevpn" && p.Provider != "vpnki":
		return fmt.Errorf("provider must be purevpn or vpnki, not %q", p.Provider)
	case p.Provider == "purevpn" && p.PackageType != "STANDARD":
		return fmt.Errorf("package_type must be STANDARD, not %q", p.PackageType)
	}
	return nil
}

// oneMoreProblem is a second check, with its own opinion of every plan at
// a provider it knows.
func oneMoreProblem(p Plan) error {
	if p.Provider == "purevpn" {
		return errors.New("one more problem")
	}
	return nil
}

// A check sees each plan as the catalog keeps it, defaults applied; a plan
// that names no provider is refused before any check sees it.
func TestNewCatalogChecks(t *testing.T) {
	t.Parallel()
	var seen []Plan
	check := func(p Plan) error {
		seen = append(seen, p)
		return nil
	}
	c, err := NewCatalog([]Plan{{ID: "a", Provider: "vpnki"}}, check)
	if err != nil {
		t.Fatal(err)
	}
	if want := c.Plans(); !reflect.DeepEqual(seen, want) {
		t.Errorf("the check saw %+v, the catalog holds %+v", seen, want)
	}
	seen = nil
	if _, err := NewCatalog([]Plan{{ID: "a"}}, check); err == nil || len(seen) != 0 {
		t.Errorf("a plan without provider: error %v, checked %+v", err, seen)
	}
}

func TestLoadCatalog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "plans.yaml")
	if err := os.WriteFile(good, []byte(designExample), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadCatalog(good, knownProviders)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Plans()) != 2 {
		t.Errorf("%d plans, want 2", len(c.Plans()))
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("plans:\n  - id: a\n    provider: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCatalog(bad, knownProviders); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "provider must be") {
		t.Errorf("LoadCatalog(bad) error = %v, want the path and the problem", err)
	}
	missing := filepath.Join(dir, "missing.yaml")
	if _, err := LoadCatalog(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadCatalog(missing) error = %v, want not-exist", err)
	}
}
