// Command webhook receives Stripe webhooks, verifies them, and stores each
// event in JetStream before it answers. Configuration: see README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/envconfig"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/ingest"
	"github.com/vpnbill/vpnbill/internal/metrics"
	"github.com/vpnbill/vpnbill/internal/providers/registry"
	"github.com/vpnbill/vpnbill/internal/version"
)

func main() {
	if exit, code := version.CommandLine("webhook", os.Args[1:], os.Stdout, os.Stderr); exit {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "webhook:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := envconfig.LoadWebhook()
	if err != nil {
		return err
	}
	log, err := cfg.Logger()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	verifier, err := billing.NewVerifier(billing.ParseSecrets(cfg.StripeWebhookSecret), 0)
	if err != nil {
		return err
	}
	ic := ingest.Config{}
	if co := cfg.Checkout; co.Enabled() {
		plans, err := billing.LoadCatalog(co.PlansFile, registry.CheckPlan)
		if err != nil {
			return err
		}
		if ic.Checkout, err = ingest.NewCheckout(ingest.CheckoutConfig{Plans: plans, APIKey: co.StripeAPIKey, APIURL: co.StripeAPIURL,
			SuccessURL: co.SuccessURL, CancelURL: co.CancelURL}, log.Named("checkout")); err != nil {
			return err
		}
	}
	nc, err := nats.Connect(cfg.NATSURL, nats.Name("vpnbill-webhook"), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	// The endpoint serves even while NATS is away (answering 503, so Stripe
	// retries); the streams are declared as soon as it is reachable.
	go func() {
		_ = events.UntilReady(ctx, log, func(ctx context.Context) error {
			_, err := events.Setup(ctx, js, events.Config{Replicas: cfg.Replicas})
			return err
		})
	}()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	h := ingest.New(ic, verifier, nc, js, log)
	// /metrics is served on its own (loopback by default) port, never on the public one.
	reg := metrics.NewRegistry()
	if err := metrics.RegisterWebhook(reg, &h.Stats); err != nil {
		_ = ln.Close()
		return err
	}
	mln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("WEBHOOK_METRICS_ADDR: %w", err)
	}
	mctx, stopMetrics := context.WithCancel(ctx)
	defer stopMetrics()
	metricsDone := make(chan error, 1)
	go func() {
		metricsDone <- metrics.Serve(mctx, metrics.NewServer(cfg.MetricsAddr, metrics.Endpoints(reg, nil)), mln)
	}()
	log.Info("webhook listening", zap.String("addr", ln.Addr().String()), zap.String("metrics", mln.Addr().String()))
	err = ingest.Serve(ctx, ingest.NewServer(cfg.Addr, h), ln, 25*time.Second)
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
