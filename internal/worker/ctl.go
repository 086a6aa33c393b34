package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/envconfig"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/portal/link"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/registry"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

// OperatorService builds, for an operator's tool (vpnbillctl, the
// console), the provisioning.Service a worker runs, from the same
// variables: the plans, the providers, SMTP, the credentials key, the grace
// and retention periods. Its operations (resend, review resolutions,
// reconcile --fix) then act exactly as the worker would.
func OperatorService(ctx context.Context, js jetstream.JetStream, cfg envconfig.Ctl, log *zap.Logger) (*provisioning.Service, error) {
	if err := cfg.CanProvision(); err != nil {
		return nil, err
	}
	plans, err := billing.LoadCatalog(cfg.PlansFile, registry.CheckPlan)
	if err != nil {
		return nil, err
	}
	key, err := provisioning.ParseKey(cfg.CredentialsKey)
	if err != nil {
		return nil, fmt.Errorf("CREDENTIALS_KEY: %w", err)
	}
	pc, vc, err := cfg.ClientConfigs()
	if err != nil {
		return nil, err
	}
	templates, err := Templates(cfg.Mail)
	if err != nil {
		return nil, err
	}
	kv, err := js.KeyValue(ctx, events.BucketAccounts)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", events.BucketAccounts, err)
	}
	prov := provisioning.Config{GracePeriod: &cfg.GracePeriod, DeleteAfter: &cfg.DeleteAfter, Templates: templates}
	if cfg.PortalEnabled() {
		links, err := PortalLinks(cfg.Portal)
		if err != nil {
			return nil, err
		}
		prov.PortalLink = links.Link
	}
	return NewService(Config{
		Provisioning:   prov,
		Plans:          plans,
		PureVPN:        pc,
		VPNKI:          vc,
		Mail:           notify.Config{URL: cfg.SMTPURL, From: cfg.MailFrom},
		CredentialsKey: key,
	}, js, kv, log)
}

// ConfiguredProviders builds the provider adapters the configuration
// gives (none, one or both), as the worker uses them (NewProviders), for
// the operator tools: reconcile, the account page's live state, doctor.
func ConfiguredProviders(p envconfig.Providers, log *zap.Logger) (map[providers.Name]provisioning.Provider, error) {
	pc, vc, err := p.ClientConfigs()
	if err != nil {
		return nil, err
	}
	return NewProviders(pc, vc, log)
}

// Templates are the emails as the MAIL_* variables brand them, for the
// worker and the operator tools alike.
func Templates(m envconfig.Mail) (*notify.Templates, error) {
	return notify.LoadTemplates(notify.Branding{Dir: m.TemplatesDir, Brand: m.Brand, Support: m.Support, LogoURL: m.LogoURL, AppName: m.AppName})
}

// PortalLinks are the customer page's links as PORTAL_URL, PORTAL_KEY and
// PORTAL_LINK_TTL configure them, for the worker's emails (its
// provisioning.Config.PortalLink), the operator tools' and the console's
// page alike: one key, one format. It fails when they are not set
// (envconfig.Portal.PortalEnabled).
func PortalLinks(p envconfig.Portal) (*link.Links, error) {
	if !p.PortalEnabled() {
		return nil, errors.New("PORTAL_URL and PORTAL_KEY are not set")
	}
	key, err := p.PortalSigningKey()
	if err != nil {
		return nil, err
	}
	return link.New(p.PortalURL, key, p.PortalLinkTTL)
}
