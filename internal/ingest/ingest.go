// Package ingest owns vpnbill's Stripe webhook endpoint: it verifies each
// request, keeps only the event types vpnbill acts on, and stores the raw
// verified event in stream STRIPE before it answers. It is thin on purpose:
// the worker reads the event; what Stripe signed is what is kept.
//
// Answers: 200 stored (or already stored, or a type vpnbill ignores);
// 400 bad signature, stale timestamp or not a Stripe event; 405 wrong method;
// 413 body over the limit; 503 not stored (Stripe retries).
//
// When configured, the same listener serves the checkout links,
// GET /buy/<plan id> (Checkout, buy.go).
package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/ratelimit"
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
	// Checkout, if set, serves the checkout links, /buy/<plan id>
	// (NewCheckout). Default nil: none.
	Checkout *Checkout
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
	// subjects holds events.StripeSubject of each handled event type,
	// worked out once.
	subjects map[string]string
	Stats    Stats
}

// New returns the endpoint. nc is used for readiness; js for publishing.
func New(cfg Config, v *billing.Verifier, nc *nats.Conn, js jetstream.JetStream, log *zap.Logger) *Handler {
	if log == nil {
		log = zap.NewNop()
	}
	h := &Handler{cfg: cfg.WithDefaults(), verifier: v, js: js, nc: nc, log: log, mux: http.NewServeMux(),
		subjects: make(map[string]string, len(billing.HandledTypes))}
	for _, t := range billing.HandledTypes {
		if subject, err := events.StripeSubject(t); err == nil {
			h.subjects[t] = subject
		}
	}
	h.mux.HandleFunc("/stripe/webhook", h.webhook)
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusOK, replyOK) })
	h.mux.HandleFunc("GET /readyz", h.ready)
	if cfg.Checkout != nil {
		h.mux.Handle("/buy/{plan}", cfg.Checkout)
	}
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) ready(w http.ResponseWriter, r *http.Request) {
	if h.nc == nil || !h.nc.IsConnected() {
		refuse(w, http.StatusServiceUnavailable, "NATS not connected")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := events.Ready(ctx, h.js); err != nil {
		refuse(w, http.StatusServiceUnavailable, "stream STRIPE not reachable")
		return
	}
	reply(w, http.StatusOK, replyReady)
}

// The webhook's hot path allocates little: the body is read into a pooled
// buffer, the fields of a log line are built only when its level is
// enabled, and the answers of a verified event are encoded once.
func (h *Handler) webhook(w http.ResponseWriter, r *http.Request) {
	received := time.Now().UTC()
	if r.Method != http.MethodPost {
		h.Stats.RejectedMethod.Add(1)
		w.Header().Set("Allow", http.MethodPost)
		refuse(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	h.Stats.Received.Add(1)
	if r.ContentLength > h.cfg.MaxBody {
		h.tooLarge(w, r)
		return
	}
	buf := h.readBody(w, r)
	// Nothing keeps the body past this request: the envelope's fields are
	// copies, and the publish copies it into the connection's buffer.
	defer buf.release()
	if buf.err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(buf.err, &tooBig) {
			h.tooLarge(w, r)
			return
		}
		h.Stats.RejectedMalformed.Add(1)
		refuse(w, http.StatusBadRequest, "could not read body")
		return
	}
	body := buf.b
	if err := h.verifier.Verify(body, r.Header.Get("Stripe-Signature")); err != nil {
		if errors.Is(err, billing.ErrTooOld) {
			h.Stats.RejectedStale.Add(1)
		} else {
			h.Stats.RejectedSignature.Add(1)
		}
		h.log.Warn("webhook rejected", zap.String("remote", ratelimit.ClientIP(r, "")), zap.String("reason", err.Error()))
		refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	env, err := billing.ParseEnvelope(body)
	if err != nil {
		h.Stats.RejectedMalformed.Add(1)
		h.log.Warn("signed payload is not a Stripe event", zap.Error(err))
		refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	subject, handled := h.subjects[env.Type]
	if !handled {
		if !billing.Handled(env.Type) {
			h.Stats.Skipped.Add(1)
			if ce := h.log.Check(zap.DebugLevel, "event type not handled; not stored"); ce != nil {
				ce.Write(zap.String("event", env.ID), zap.String("type", env.Type))
			}
			reply(w, http.StatusOK, replyIgnored)
			return
		}
		if subject, err = events.StripeSubject(env.Type); err != nil {
			h.Stats.RejectedMalformed.Add(1)
			refuse(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	// The publish outlives a client that hangs up: Stripe's retry then finds it stored.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.cfg.PublishTimeout)
	defer cancel()
	hdr := nats.Header{}
	hdr.Set(HeaderReceived, received.Format(time.RFC3339Nano))
	ack, err := events.Publish(ctx, h.js, subject, env.ID, body, hdr)
	if err != nil {
		h.Stats.Unavailable.Add(1)
		h.log.Error("event not stored; answering 503 so Stripe retries",
			zap.String("event", env.ID), zap.String("type", env.Type), zap.Error(err))
		w.Header().Set("Retry-After", "10")
		refuse(w, http.StatusServiceUnavailable, "event not stored, retry later")
		return
	}
	if ack.Duplicate {
		h.Stats.Duplicates.Add(1)
		if ce := h.log.Check(zap.InfoLevel, "event already stored"); ce != nil {
			ce.Write(zap.String("event", env.ID), zap.String("type", env.Type), zap.Uint64("seq", ack.Sequence))
		}
		reply(w, http.StatusOK, replyDuplicate)
		return
	}
	h.Stats.Published.Add(1)
	if ce := h.log.Check(zap.InfoLevel, "event stored"); ce != nil {
		ce.Write(zap.String("event", env.ID), zap.String("type", env.Type), zap.Uint64("seq", ack.Sequence))
	}
	reply(w, http.StatusOK, replyStored)
}

// requestBody is a request's body, read into a pooled buffer.
type requestBody struct {
	b   []byte
	err error
	p   *[]byte // given back to bodies by release
}

// bodies holds read buffers for reuse, each of a capacity up to
// maxPooledBody.
var bodies sync.Pool

const (
	// maxPooledBody bounds the buffers kept for reuse: one of a body near
	// the default limit is kept, one of a larger configured limit is not.
	maxPooledBody = 64<<10 + 1
	// unknownLengthBody is the first size of a buffer for a body whose
	// length was not declared; it doubles as the body comes.
	unknownLengthBody = 8 << 10
)

// readBody reads r's body through http.MaxBytesReader (so a body over
// MaxBody is a *http.MaxBytesError, and the connection is closed after the
// answer) into a pooled buffer sized by the declared length, which is no
// more than MaxBody here. The declared length only sizes the buffer: the
// body is read to its end whatever it says.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) requestBody {
	p, _ := bodies.Get().(*[]byte)
	if p == nil {
		p = new([]byte)
	}
	b := (*p)[:0]
	// Room for the declared length and one byte more, so that the read that
	// meets the end needs no larger buffer.
	size := unknownLengthBody
	if r.ContentLength >= 0 {
		size = int(r.ContentLength) + 1
	}
	if cap(b) < size {
		b = make([]byte, 0, size)
	}
	rd := http.MaxBytesReader(w, r.Body, h.cfg.MaxBody)
	var err error
	for {
		if len(b) == cap(b) {
			// MaxBytesReader returns no more than MaxBody bytes, so the
			// buffer never needs to outgrow MaxBody + 1.
			b = append(make([]byte, 0, max(min(2*cap(b)+512, int(h.cfg.MaxBody)+1), len(b)+1)), b...)
		}
		var n int
		n, err = rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			break
		}
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	*p = b
	return requestBody{b: b, err: err, p: p}
}

// release gives the buffer back for another request's body.
func (b requestBody) release() {
	if cap(*b.p) <= maxPooledBody {
		*b.p = (*b.p)[:0]
		bodies.Put(b.p)
	}
}

func (h *Handler) tooLarge(w http.ResponseWriter, r *http.Request) {
	h.Stats.RejectedTooLarge.Add(1)
	h.log.Warn("webhook body too large", zap.String("remote", ratelimit.ClientIP(r, "")), zap.Int64("limit", h.cfg.MaxBody))
	w.Header().Set("Connection", "close")
	refuse(w, http.StatusRequestEntityTooLarge, "body over "+strconv.FormatInt(h.cfg.MaxBody, 10)+" bytes")
}

// The answers of a verified event, and of /healthz and /readyz, encoded
// once.
var (
	replyStored    = encoded("status", "stored")
	replyDuplicate = encoded("status", "duplicate")
	replyIgnored   = encoded("status", "ignored")
	replyOK        = encoded("status", "ok")
	replyReady     = encoded("status", "ready")
)

// encoded is the body of an answer: the JSON object {key: value} and a
// newline.
func encoded(key, value string) []byte {
	b := &bytes.Buffer{}
	_ = json.NewEncoder(b).Encode(map[string]string{key: value})
	return b.Bytes()
}

// reply answers code with body.
func reply(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// refuse answers code with {"error": reason}.
func refuse(w http.ResponseWriter, code int, reason string) { reply(w, code, encoded("error", reason)) }

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
