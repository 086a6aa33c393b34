package main

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/assemble"
	"github.com/vpnbill/vpnbill/internal/envconfig"
	"github.com/vpnbill/vpnbill/internal/ops"
	"github.com/vpnbill/vpnbill/internal/providers"
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

// providersFrom is the provider adapters the configuration gives, as the
// worker builds them (worker.ConfiguredProviders): none, one or both.
func providersFrom(cfg envconfig.Ctl, log *zap.Logger) (map[providers.Name]provisioning.Provider, error) {
	return worker.ConfiguredProviders(cfg.Providers, log)
}

// usageReaders is the usage readers of the configured providers that keep
// usage, as the console's customer page has them (assemble.UsageReaders).
func usageReaders(cfg envconfig.Ctl, log *zap.Logger) (map[providers.Name]ops.UsageReader, error) {
	return assemble.UsageReaders(cfg.Providers, log)
}
