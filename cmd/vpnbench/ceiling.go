package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbill/vpnbill/internal/envconfig"
	"github.com/vpnbill/vpnbill/internal/ingest"
	"github.com/vpnbill/vpnbill/internal/metrics"
	"github.com/vpnbill/vpnbill/internal/perf"
)

// runCeiling is the ingest ceiling: the least a webhook must do with the
// same libraries — read the body, webhook.ValidatePayload, a synchronous
// JetStream publish with the event id as Msg-Id, 200 — served like
// cmd/webhook (the same variables, server timeouts and /metrics) so that
// the two differ only in their handlers.
func runCeiling(ctx context.Context) error {
	cfg, err := envconfig.LoadWebhook()
	if err != nil {
		return err
	}
	nc, err := nats.Connect(cfg.NATSURL, nats.Name("vpnbench-ceiling"))
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	h := perf.Ceiling{Secret: cfg.StripeWebhookSecret, JS: js}
	mux := http.NewServeMux()
	mux.Handle("POST /stripe/webhook", h)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	mln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		_ = ln.Close()
		return err
	}
	mctx, stopMetrics := context.WithCancel(ctx)
	defer stopMetrics()
	metricsDone := make(chan error, 1)
	go func() {
		metricsDone <- metrics.Serve(mctx, metrics.NewServer(cfg.MetricsAddr, metrics.Endpoints(metrics.NewRegistry(), nil)), mln)
	}()
	err = ingest.Serve(ctx, ingest.NewServer(cfg.Addr, mux), ln, 25*time.Second)
	stopMetrics()
	return errors.Join(err, <-metricsDone)
}
