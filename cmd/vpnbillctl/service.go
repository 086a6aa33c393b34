package main

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/envconfig"
	"github.com/vpnbill/vpnbill/internal/ops"
	"github.com/vpnbill/vpnbill/internal/providers"
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

// provisioner is the provisioning.Service a worker runs, built from the
// same variables (one owner: worker.OperatorService).
func provisioner(ctx context.Context, o *ops.Ops, cfg envconfig.Ctl, log *zap.Logger) (*provisioning.Service, error) {
	return worker.OperatorService(ctx, o.JS, cfg, log)
}

// providersFrom builds the provider adapters the configuration gives, as
// the worker does: none, one or both.
func providersFrom(cfg envconfig.Ctl, log *zap.Logger) (map[providers.Name]provisioning.Provider, error) {
	pc, vc, err := cfg.ClientConfigs()
	if err != nil {
		return nil, err
	}
	return worker.NewProviders(pc, vc, log)
}

// usageReaders builds the usage readers of the configured providers that
// keep usage: VPNKI's, if VPNKI_API_URL is set.
func usageReaders(cfg envconfig.Ctl, log *zap.Logger) (map[providers.Name]ops.UsageReader, error) {
	readers := map[providers.Name]ops.UsageReader{}
	if cfg.VPNKIURL == "" {
		return readers, nil
	}
	_, vc, err := cfg.ClientConfigs()
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
