package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

// PureVPN adapts a *purevpn.Client to provisioning.Provider.
type PureVPN struct {
	Client *purevpn.Client
	Now    func() time.Time // default time.Now
}

var _ provisioning.Provider = PureVPN{}

func (p PureVPN) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Create makes an account of the plan's package type and period.
func (p PureVPN) Create(ctx context.Context, plan billing.Plan) (provisioning.Credentials, error) {
	pkg, err := purevpn.ParsePackageType(plan.PackageType)
	if err != nil {
		return provisioning.Credentials{}, invalidPlan(plan, err)
	}
	period, err := purevpn.PeriodFromDays(plan.PeriodDays)
	if err != nil {
		return provisioning.Credentials{}, invalidPlan(plan, err)
	}
	start := p.now()
	acct, err := p.Client.Create(ctx, pkg, period)
	if err != nil {
		return provisioning.Credentials{}, err
	}
	return provisioning.Credentials{
		Username: acct.Username,
		Password: acct.Password,
		Expiry:   start.AddDate(0, 0, period.Days()).UTC(),
	}, nil
}

// invalidPlan is a plan the provider cannot sell: as permanent as a Rejected answer.
func invalidPlan(plan billing.Plan, err error) error {
	return &providers.Error{Provider: providers.Name(plan.Provider), Method: "create", Class: providers.Rejected,
		Reason: fmt.Sprintf("plan %s: %v", plan.ID, err)}
}
