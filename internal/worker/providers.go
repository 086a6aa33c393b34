package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

// PureVPN adapts a *purevpn.Client to provisioning.Provider.
type PureVPN struct {
	Client *purevpn.Client
	Now    func() time.Time // default time.Now
}

// VPNKI adapts a *vpnki.Client to provisioning.Provider.
type VPNKI struct{ Client *vpnki.Client }

var (
	_ provisioning.Provider = PureVPN{}
	_ provisioning.Provider = VPNKI{}
)

// errUnsupported is returned for a capability the provider lacks; the
// reconciler never asks for one (it reads Capabilities first).
var errUnsupported = errors.New("not supported by this provider")

func (p PureVPN) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Capabilities of PureVPN.
func (PureVPN) Capabilities() providers.Capabilities {
	return providers.CapabilitiesOf(providers.PureVPN)
}

// Create makes an account of the plan's package type and period.
func (p PureVPN) Create(ctx context.Context, plan billing.Plan) (provisioning.Credentials, error) {
	pkg, period, err := purePlan(plan)
	if err != nil {
		return provisioning.Credentials{}, err
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

func purePlan(plan billing.Plan) (purevpn.PackageType, purevpn.Period, error) {
	pkg, err := purevpn.ParsePackageType(plan.PackageType)
	if err != nil {
		return "", 0, invalidPlan(plan, err)
	}
	period, err := purevpn.PeriodFromDays(plan.PeriodDays)
	if err != nil {
		return "", 0, invalidPlan(plan, err)
	}
	return pkg, period, nil
}

// Lookup reads the account's status; an unknown username is Exists=false.
func (p PureVPN) Lookup(ctx context.Context, username string) (provisioning.Remote, error) {
	st, err := p.Client.Status(ctx, username)
	if errors.Is(err, purevpn.ErrNoSuchAccount) {
		return provisioning.Remote{Username: username}, nil
	}
	if err != nil {
		return provisioning.Remote{}, err
	}
	return provisioning.Remote{Username: username, Exists: true, Enabled: st.Enabled, Expiry: st.Expiry}, nil
}

// Delete deletes the account; one already gone is success.
func (p PureVPN) Delete(ctx context.Context, username string) error {
	err := p.Client.DeleteAccount(ctx, username)
	if errors.Is(err, purevpn.ErrNoSuchAccount) {
		return nil
	}
	return err
}

// SetEnabled enables or disables the account (update_account).
func (p PureVPN) SetEnabled(ctx context.Context, username string, enabled bool) error {
	return p.Client.UpdateAccount(ctx, username, enabled)
}

// Renew extends the account by the plan's period.
func (p PureVPN) Renew(ctx context.Context, username string, plan billing.Plan) error {
	_, period, err := purePlan(plan)
	if err != nil {
		return err
	}
	_, err = p.Client.Renew(ctx, username, period)
	return err
}

// ChangePassword sets a new 8-character alphanumeric password.
func (p PureVPN) ChangePassword(ctx context.Context, username, password string) error {
	return p.Client.ChangePassword(ctx, username, password)
}

// List is not offered by PureVPN.
func (PureVPN) List(context.Context) ([]provisioning.Remote, error) { return nil, errUnsupported }

// invalidPlan is a plan the provider cannot sell: as permanent as a Rejected answer.
func invalidPlan(plan billing.Plan, err error) error {
	return &providers.Error{Provider: providers.Name(plan.Provider), Method: "create", Class: providers.Rejected,
		Reason: fmt.Sprintf("plan %s: %v", plan.ID, err)}
}

// Capabilities of VPNKI.
func (VPNKI) Capabilities() providers.Capabilities { return providers.CapabilitiesOf(providers.VPNKI) }

// Create adds a tunnel. VPNKI keeps no expiry: vpnbill enforces it.
func (v VPNKI) Create(ctx context.Context, _ billing.Plan) (provisioning.Credentials, error) {
	t, err := v.Client.AddTunnel(ctx)
	if err != nil {
		return provisioning.Credentials{}, err
	}
	return provisioning.Credentials{Username: t.Tunnel, Login: t.Login, Password: t.Password, Server: t.Address}, nil
}

// Lookup finds the tunnel in the list of all tunnels. A tunnel exists and
// is enabled, or does not exist: VPNKI has no disabled state.
func (v VPNKI) Lookup(ctx context.Context, username string) (provisioning.Remote, error) {
	all, err := v.List(ctx)
	if err != nil {
		return provisioning.Remote{}, err
	}
	for _, r := range all {
		if r.Username == username {
			return r, nil
		}
	}
	return provisioning.Remote{Username: username}, nil
}

// Delete deletes the tunnel; one already gone is success.
func (v VPNKI) Delete(ctx context.Context, username string) error {
	err := v.Client.DelTunnel(ctx, username)
	if errors.Is(err, vpnki.ErrNoSuchTunnel) {
		return nil
	}
	return err
}

// List returns every tunnel of the account.
func (v VPNKI) List(ctx context.Context) ([]provisioning.Remote, error) {
	ts, err := v.Client.Tunnels(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]provisioning.Remote, 0, len(ts))
	for _, t := range ts {
		out = append(out, provisioning.Remote{Username: t.Name, Exists: true, Enabled: true, Created: t.Created})
	}
	return out, nil
}

// SetEnabled is not offered by VPNKI: a suspension deletes the tunnel.
func (VPNKI) SetEnabled(context.Context, string, bool) error { return errUnsupported }

// Renew is not offered by VPNKI: vpnbill keeps the expiry.
func (VPNKI) Renew(context.Context, string, billing.Plan) error { return errUnsupported }

// ChangePassword is not offered by VPNKI: a new tunnel is made instead.
func (VPNKI) ChangePassword(context.Context, string, string) error { return errUnsupported }
