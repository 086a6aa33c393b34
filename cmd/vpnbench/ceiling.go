package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/vpnbill/vpnbill/internal/envconfig"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/ingest"
	"github.com/vpnbill/vpnbill/internal/metrics"
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
	h := ceilingHandler{secret: cfg.StripeWebhookSecret, js: js}
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

// ceilingHandler is the minimal webhook handler.
type ceilingHandler struct {
	secret string
	js     jetstream.JetStream
}

func (h ceilingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if err := webhook.ValidatePayload(body, r.Header.Get("Stripe-Signature"), h.secret); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var ev struct{ ID, Type string }
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	subject, err := events.StripeSubject(ev.Type)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if _, err := h.js.PublishMsg(r.Context(), &nats.Msg{Subject: subject, Data: body}, jetstream.WithMsgID(ev.ID)); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// maxBody is the webhook's default limit.
const maxBody = 64 << 10

// readBody reads the body in one allocation of its announced size (Stripe
// sends Content-Length), or grows a buffer when the size is not announced.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, maxBody)
	if n := r.ContentLength; n > 0 && n <= maxBody {
		body := make([]byte, n)
		_, err := io.ReadFull(rd, body)
		return body, err
	}
	return io.ReadAll(rd)
}
