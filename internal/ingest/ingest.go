// Package ingest owns vpnbill's Stripe webhook endpoint: it verifies each
// request, keeps only the event types vpnbill acts on, and stores the raw
// verified event in stream STRIPE before it answers. It is thin on purpose:
// the worker reads the event; what Stripe signed is what is kept.
//
// Answers: 200 stored (or already stored, or a type vpnbill ignores);
// 400 bad signature, stale timestamp or not a Stripe event; 405 wrong method;
// 413 body over the limit; 503 not stored (Stripe retries).
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/events"
)

// HeaderReceived carries, on each stored event, when the webhook received it
// (RFC 3339 with nanoseconds), for the receipt-to-done latency.
const HeaderReceived = "Vpnbill-Received"

// Config configures the endpoint.
type Config struct {
	// MaxBody is the largest body read, in bytes; larger ones get 413. Default 64 KiB.
	MaxBody int64
	// PublishTimeout bounds waiting for JetStream's PubAck. Default 10s.
	PublishTimeout time.Duration
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.MaxBody <= 0 {
		c.MaxBody = 64 << 10
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = 10 * time.Second
	}
	return c
}

// Stats counts what the endpoint did. Read with the Load methods.
type Stats struct {
	Received, Published, Duplicates, Skipped, Unavailable atomic.Int64
	RejectedSignature, RejectedStale, RejectedMalformed   atomic.Int64
	RejectedTooLarge, RejectedMethod                      atomic.Int64
}

// Handler serves POST /stripe/webhook, GET /healthz and GET /readyz.
type Handler struct {
	cfg      Config
	verifier *billing.Verifier
	js       jetstream.JetStream
	nc       *nats.Conn
	log      *zap.Logger
	mux      *http.ServeMux
	Stats    Stats
}

// New returns the endpoint. nc is used for readiness; js for publishing.
func New(cfg Config, v *billing.Verifier, nc *nats.Conn, js jetstream.JetStream, log *zap.Logger) *Handler {
	if log == nil {
		log = zap.NewNop()
	}
	h := &Handler{cfg: cfg.WithDefaults(), verifier: v, js: js, nc: nc, log: log, mux: http.NewServeMux()}
	h.mux.HandleFunc("/stripe/webhook", h.webhook)
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { answer(w, http.StatusOK, "ok", "") })
	h.mux.HandleFunc("GET /readyz", h.ready)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) ready(w http.ResponseWriter, r *http.Request) {
	if h.nc == nil || !h.nc.IsConnected() {
		answer(w, http.StatusServiceUnavailable, "", "NATS not connected")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := events.Ready(ctx, h.js); err != nil {
		answer(w, http.StatusServiceUnavailable, "", "stream STRIPE not reachable")
		return
	}
	answer(w, http.StatusOK, "ready", "")
}

func (h *Handler) webhook(w http.ResponseWriter, r *http.Request) {
	received := time.Now().UTC()
	if r.Method != http.MethodPost {
		h.Stats.RejectedMethod.Add(1)
		w.Header().Set("Allow", http.MethodPost)
		answer(w, http.StatusMethodNotAllowed, "", "POST only")
		return
	}
	h.Stats.Received.Add(1)
	if r.ContentLength > h.cfg.MaxBody {
		h.tooLarge(w, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.tooLarge(w, r)
			return
		}
		h.Stats.RejectedMalformed.Add(1)
		answer(w, http.StatusBadRequest, "", "could not read body")
		return
	}
	if err := h.verifier.Verify(body, r.Header.Get("Stripe-Signature")); err != nil {
		if errors.Is(err, billing.ErrTooOld) {
			h.Stats.RejectedStale.Add(1)
		} else {
			h.Stats.RejectedSignature.Add(1)
		}
		h.log.Warn("webhook rejected", zap.String("remote", remoteIP(r)), zap.String("reason", err.Error()))
		answer(w, http.StatusBadRequest, "", err.Error())
		return
	}
	env, err := billing.ParseEnvelope(body)
	if err != nil {
		h.Stats.RejectedMalformed.Add(1)
		h.log.Warn("signed payload is not a Stripe event", zap.Error(err))
		answer(w, http.StatusBadRequest, "", err.Error())
		return
	}
	log := h.log.With(zap.String("event", env.ID), zap.String("type", env.Type))
	if !billing.Handled(env.Type) {
		h.Stats.Skipped.Add(1)
		log.Debug("event type not handled; not stored")
		answer(w, http.StatusOK, "ignored", "")
		return
	}
	subject, err := events.StripeSubject(env.Type)
	if err != nil {
		h.Stats.RejectedMalformed.Add(1)
		answer(w, http.StatusBadRequest, "", err.Error())
		return
	}
	// The publish outlives a client that hangs up: Stripe's retry then finds it stored.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.cfg.PublishTimeout)
	defer cancel()
	hdr := nats.Header{}
	hdr.Set(HeaderReceived, received.Format(time.RFC3339Nano))
	ack, err := events.Publish(ctx, h.js, subject, env.ID, body, hdr)
	if err != nil {
		h.Stats.Unavailable.Add(1)
		log.Error("event not stored; answering 503 so Stripe retries", zap.Error(err))
		w.Header().Set("Retry-After", "10")
		answer(w, http.StatusServiceUnavailable, "", "event not stored, retry later")
		return
	}
	if ack.Duplicate {
		h.Stats.Duplicates.Add(1)
		log.Info("event already stored", zap.Uint64("seq", ack.Sequence))
		answer(w, http.StatusOK, "duplicate", "")
		return
	}
	h.Stats.Published.Add(1)
	log.Info("event stored", zap.Uint64("seq", ack.Sequence))
	answer(w, http.StatusOK, "stored", "")
}

func (h *Handler) tooLarge(w http.ResponseWriter, r *http.Request) {
	h.Stats.RejectedTooLarge.Add(1)
	h.log.Warn("webhook body too large", zap.String("remote", remoteIP(r)), zap.Int64("limit", h.cfg.MaxBody))
	w.Header().Set("Connection", "close")
	answer(w, http.StatusRequestEntityTooLarge, "", "body over "+strconv.FormatInt(h.cfg.MaxBody, 10)+" bytes")
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func answer(w http.ResponseWriter, code int, status, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	body := map[string]string{}
	if status != "" {
		body["status"] = status
	}
	if reason != "" {
		body["error"] = reason
	}
	_ = json.NewEncoder(w).Encode(body)
}

// NewServer returns an http.Server for h with every timeout set.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

// Serve runs srv on ln until ctx is done, then stops accepting and waits up
// to grace for requests in flight (publishes included) to finish.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
