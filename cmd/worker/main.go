// Command worker turns stored Stripe events into VPN accounts at the
// providers and emails the customers. Configuration: see README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/envconfig"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/metrics"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/providers/registry"
	"github.com/vpnbill/vpnbill/internal/provisioning"
	"github.com/vpnbill/vpnbill/internal/version"
	"github.com/vpnbill/vpnbill/internal/worker"
)

func main() {
	if exit, code := version.CommandLine("worker", os.Args[1:], os.Stdout, os.Stderr); exit {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := envconfig.LoadWorker()
	if err != nil {
		return err
	}
	log, err := cfg.Logger()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	plans, err := billing.LoadCatalog(cfg.PlansFile, registry.CheckPlan)
	if err != nil {
		return err
	}
	key, err := provisioning.ParseKey(cfg.CredentialsKey)
	if err != nil {
		return fmt.Errorf("CREDENTIALS_KEY: %w", err)
	}
	templates, err := worker.Templates(cfg.Mail)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(cfg.NATSURL, nats.Name("vpnbill-worker"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	wc := worker.Config{
		Events:         events.Config{Replicas: cfg.Replicas},
		Consumer:       events.ConsumerConfig{Concurrency: cfg.Concurrency},
		Provisioning:   provisioning.Config{GracePeriod: &cfg.GracePeriod, DeleteAfter: &cfg.DeleteAfter, Templates: templates},
		Plans:          plans,
		Mail:           notify.Config{URL: cfg.SMTPURL, From: cfg.MailFrom},
		CredentialsKey: key,
	}
	if cfg.PortalEnabled() { // every email links to the customer's page
		links, err := worker.PortalLinks(cfg.Portal)
		if err != nil {
			return err
		}
		wc.Provisioning.PortalLink = links.Link
	}
	if live, decided := cfg.Livemode(); decided {
		wc.Livemode = &live
	}
	if wc.PureVPN, wc.VPNKI, err = cfg.ClientConfigs(); err != nil {
		return err
	}
	if cfg.StripeAPIKey != "" {
		if wc.LineItems, err = billing.NewStripeLineItems(cfg.StripeAPIKey, cfg.StripeAPIURL); err != nil {
			return err
		}
	}
	reg := metrics.NewRegistry()
	if wc.Metrics, err = metrics.NewWorker(reg); err != nil {
		return err
	}
	if err := metrics.RegisterJetStream(reg, js, 0); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("METRICS_ADDR: %w", err)
	}
	ready := func() error {
		if !nc.IsConnected() {
			return errors.New("NATS not connected")
		}
		if wc.Metrics.Paused() {
			return errors.New("paused: a provider refused vpnbill's credentials (systemic failure)")
		}
		return nil
	}
	mctx, stopMetrics := context.WithCancel(ctx)
	defer stopMetrics()
	metricsDone := make(chan error, 1)
	go func() {
		metricsDone <- metrics.Serve(mctx, metrics.NewServer(cfg.MetricsAddr, metrics.Endpoints(reg, ready)), ln)
	}()
	log.Info("metrics listening", zap.String("addr", ln.Addr().String()))
	err = worker.Run(ctx, js, wc, log)
	stopMetrics()
	if err := errors.Join(err, <-metricsDone); err != nil {
		return err
	}
	// Everything is settled; a drain that fails (NATS away) loses nothing.
	if err := nc.Drain(); err != nil {
		log.Warn("NATS connection not drained", zap.Error(err))
	}
	return nil
}
