// Package assemble assembles the operator tools' parts from the
// configuration, one place for vpnbillctl, the console and the demo: the
// console's operations (ConsoleOps), the customer page (CustomerPage) and
// the usage readers of the providers that keep usage (UsageReaders). It
// decides what is built from which variables and with which names in the
// logs; what each part does is its own package's (ops, portal, worker).
//
// It exists apart from internal/worker because it needs internal/ops and
// internal/portal, and ops's own tests import worker: worker must not
// import them. The provider adapters of the configuration are worker's
// (worker.ConfiguredProviders), beside the adapters themselves.
package assemble

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/envconfig"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/ops"
	"github.com/vpnbill/vpnbill/internal/portal"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki"
	"github.com/vpnbill/vpnbill/internal/provisioning"
	"github.com/vpnbill/vpnbill/internal/worker"
)

// UsageReaders are the usage readers of the configured providers that
// keep usage: VPNKI's, if VPNKI_API_URL is set; else none (an empty map).
// Its client logs as "vpnki" under log.
func UsageReaders(p envconfig.Providers, log *zap.Logger) (map[providers.Name]ops.UsageReader, error) {
	if log == nil {
		log = zap.NewNop()
	}
	readers := map[providers.Name]ops.UsageReader{}
	if p.VPNKIURL == "" {
		return readers, nil
	}
	_, vc, err := p.ClientConfigs()
	if err != nil {
		return nil, err
	}
	vc.Logger = log.Named("vpnki")
	c, err := vpnki.New(vc)
	if err != nil {
		return nil, fmt.Errorf("vpnki: %w", err)
	}
	readers[providers.VPNKI] = ops.VPNKIUsage{Client: c}
	return readers, nil
}

// ConsoleOps are the operators' console's operations over js: resend and
// the review resolutions through the worker's own provisioning service
// (worker.OperatorService) if cfg can provision (envconfig.Ctl.CanProvision;
// if not, they are off and a warning says why), and the provider adapters
// (worker.ConfiguredProviders) for the reconcile page and the account
// page's live state (none configured: both say so). svc is that service,
// nil if off, for the customer page's password resets (CustomerPage).
func ConsoleOps(ctx context.Context, js jetstream.JetStream, cfg envconfig.Ctl, log *zap.Logger) (o *ops.Ops, svc *provisioning.Service, err error) {
	if log == nil {
		log = zap.NewNop()
	}
	o = &ops.Ops{JS: js, Log: log.Named("ops")}
	if off := cfg.CanProvision(); off != nil {
		log.Warn("console: resend and review resolutions are off: " + off.Error())
	} else {
		if svc, err = worker.OperatorService(ctx, js, cfg, log); err != nil {
			return nil, nil, err
		}
		o.Provisioner = svc
	}
	if o.Providers, err = worker.ConfiguredProviders(cfg.Providers, log); err != nil {
		return nil, nil, err
	}
	return o, svc, nil
}

// Page is the customer's page and the mailer that emails its links.
// Close it, not its Portal, once its server has stopped.
type Page struct {
	*portal.Portal
	mailer *notify.Mailer
}

// Close stops the page, waiting for the emails it is sending, then closes
// the SMTP sessions its mailer keeps open between sends.
func (p *Page) Close() {
	p.Portal.Close()
	_ = p.mailer.Close()
}

// CustomerPage is the customer's page (internal/portal) over js, as the
// console serves it on PORTAL_ADDR: its links (PORTAL_URL, PORTAL_KEY,
// worker.PortalLinks), the emails' templates and brand (MAIL_*), links
// emailed over SMTP_URL from MAIL_FROM as the worker's are, VPNKI usage if
// VPNKI is configured (UsageReaders), "Manage billing" only if
// STRIPE_API_KEY is set (at STRIPE_API_URL), password resets through svc
// (nil: none), and the rate limits keyed by clientIPHeader's address ("":
// the connection's; envconfig.Console.PortalClientIPHeader). It is the page
// of its own ops: the console's routes and state are not its. It logs as
// "portal" under log.
func CustomerPage(js jetstream.JetStream, cfg envconfig.Ctl, clientIPHeader string, svc *provisioning.Service, log *zap.Logger) (*Page, error) {
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("portal")
	links, err := worker.PortalLinks(cfg.Portal)
	if err != nil {
		return nil, err
	}
	templates, err := worker.Templates(cfg.Mail)
	if err != nil {
		return nil, err
	}
	usage, err := UsageReaders(cfg.Providers, log)
	if err != nil {
		return nil, err
	}
	pc := portal.Config{Links: links, Ops: &ops.Ops{JS: js, Log: log.Named("ops"), UsageReaders: usage},
		Templates: templates, Brand: cfg.Brand, ClientIPHeader: clientIPHeader}
	if svc != nil {
		pc.Resetter = svc // never a nil *Service in the interface
	}
	if cfg.StripeAPIKey != "" {
		api, err := ops.NewStripeAPI(cfg.StripeAPIKey, cfg.StripeAPIURL)
		if err != nil {
			return nil, err
		}
		pc.Billing = api
	} else {
		log.Info("customer page: no \"Manage billing\" (STRIPE_API_KEY is not set)")
	}
	mailer, err := notify.New(notify.Config{URL: cfg.SMTPURL, From: cfg.MailFrom}, log.Named("mail"))
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	pc.Mailer = mailer
	p, err := portal.New(pc, log)
	if err != nil {
		_ = mailer.Close()
		return nil, err
	}
	return &Page{Portal: p, mailer: mailer}, nil
}
