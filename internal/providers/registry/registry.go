// Package registry holds what must know every provider adapter vpnbill has,
// though no one in particular needs it: the check of a plans file's plans
// (billing.PlanCheck). Like purevpn/ and vpnki/ it is part of the adapters
// layer, the only code that names providers; the wiring in cmd/ and
// internal/worker hands what it offers to the packages that need it.
package registry

import (
	"fmt"
	"strings"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn"
)

var _ billing.PlanCheck = CheckPlan

// CheckPlan is the billing.PlanCheck of the providers vpnbill implements:
// p's provider must be one of them, and sell p's package type and period.
func CheckPlan(p billing.Plan) error {
	switch providers.Name(p.Provider) {
	case providers.PureVPN:
		return purevpn.CheckPlan(p.PackageType, p.PeriodDays)
	case providers.VPNKI:
		// One kind of tunnel, and no expiry: vpnbill deletes a tunnel
		// when its term ends, whatever the term.
		return nil
	}
	names := make([]string, 0, len(providers.Names()))
	for _, n := range providers.Names() {
		names = append(names, string(n))
	}
	return fmt.Errorf("provider must be %s, not %q", orList(names), p.Provider)
}

// orList words alternatives: "a", "a or b", "a, b or c".
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}
