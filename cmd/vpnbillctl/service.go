package main

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/envconfig"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/ops"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki"
	"github.com/vpnbill/vpnbill/internal/provisioning"
	"github.com/vpnbill/vpnbill/internal/worker"
)

// connect opens NATS and returns the operations over it, and a close function.
func connect(cfg envconfig.Ctl, log *zap.Logger) (*ops.Ops, func(), error) {
	nc, err := nats.Connect(cfg.NATSURL, nats.Name("vpnbillctl"))
	if err != nil {
		return nil, nil, fmt.Errorf("nats: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return &ops.Ops{JS: js, Log: log}, func() { _ = nc.Drain() }, nil
}

// provisioner builds a provisioning.Service the way the worker does
// (internal/worker.Run), from the same variables.
func provisioner(ctx context.Context, o *ops.Ops, cfg envconfig.Ctl, log *zap.Logger) (*provisioning.Service, error) {
	if err := cfg.CanProvision(); err != nil {
		return nil, err
	}
	plans, err := billing.LoadCatalog(cfg.PlansFile)
	if err != nil {
		return nil, err
	}
	key, err := provisioning.ParseKey(cfg.CredentialsKey)
	if err != nil {
		return nil, fmt.Errorf("CREDENTIALS_KEY: %w", err)
	}
	provs, err := providersFrom(cfg, log)
	if err != nil {
		return nil, err
	}
	for _, p := range plans.Plans() {
		if _, ok := provs[providers.Name(p.Provider)]; !ok {
			return nil, fmt.Errorf("plan %s uses provider %s, which is not configured", p.ID, p.Provider)
		}
	}
	mailer, err := notify.New(notify.Config{URL: cfg.SMTPURL, From: cfg.MailFrom}, log.Named("mail"))
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	sealer, err := provisioning.NewSealer(key)
	if err != nil {
		return nil, err
	}
	kv, err := o.JS.KeyValue(ctx, events.BucketAccounts)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", events.BucketAccounts, err)
	}
	pc := provisioning.Config{GracePeriod: cfg.GracePeriod, DeleteAfter: cfg.DeleteAfter}
	return provisioning.New(pc, provisioning.NewStore(kv), o.JS, provs, mailer, sealer, log.Named("provisioning")), nil
}

// providersFrom builds the provider adapters the configuration gives, as
// the worker does: none, one or both.
func providersFrom(cfg envconfig.Ctl, log *zap.Logger) (map[providers.Name]provisioning.Provider, error) {
	provs := map[providers.Name]provisioning.Provider{}
	if cfg.PureVPNURL != "" {
		names, err := purevpn.NamesFromOverrides(cfg.PureVPNSpellings)
		if err != nil {
			return nil, fmt.Errorf("PUREVPN_SPELLINGS: %w", err)
		}
		c, err := purevpn.New(purevpn.Config{URL: cfg.PureVPNURL, User: cfg.PureVPNUser, Password: cfg.PureVPNPassword,
			Names: names, Timeout: cfg.ProviderTimeout, RetryFor: cfg.ProviderRetryFor, Logger: log.Named("purevpn")})
		if err != nil {
			return nil, fmt.Errorf("purevpn: %w", err)
		}
		provs[providers.PureVPN] = worker.PureVPN{Client: c}
	}
	if cfg.VPNKIURL != "" {
		c, err := vpnkiClient(cfg, log)
		if err != nil {
			return nil, err
		}
		provs[providers.VPNKI] = worker.VPNKI{Client: c}
	}
	return provs, nil
}

func vpnkiClient(cfg envconfig.Ctl, log *zap.Logger) (*vpnki.Client, error) {
	if cfg.VPNKIURL == "" {
		return nil, fmt.Errorf("usage: VPNKI is %w (VPNKI_API_URL, VPNKI_API_KEY)", ops.ErrNotConfigured)
	}
	c, err := vpnki.New(vpnki.Config{URL: cfg.VPNKIURL, Key: cfg.VPNKIKey, Timeout: cfg.ProviderTimeout,
		RetryFor: cfg.ProviderRetryFor, Logger: log.Named("vpnki")})
	if err != nil {
		return nil, fmt.Errorf("vpnki: %w", err)
	}
	return c, nil
}
