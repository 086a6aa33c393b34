package perf

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/vpnbill/vpnbill/internal/events"
)

// Ceiling is the ingest ceiling: the least a webhook must do with the same
// libraries — read the body (in one allocation of its declared length),
// stripe-go's webhook.ValidatePayload, read the id and type, a synchronous
// JetStream publish with the id as Msg-Id, 200. cmd/vpnbench serves it as
// a process beside the webhook, and internal/ingest's benchmarks run it
// beside the handler: one ceiling for both.
type Ceiling struct {
	JS     jetstream.JetStream
	Secret string
}

func (c Ceiling) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := ceilingBody(w, r)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if err := webhook.ValidatePayload(body, r.Header.Get("Stripe-Signature"), c.Secret); err != nil {
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
	if _, err := c.JS.PublishMsg(r.Context(), &nats.Msg{Subject: subject, Data: body}, jetstream.WithMsgID(ev.ID)); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// ceilingMaxBody is the webhook's default limit.
const ceilingMaxBody = 64 << 10

// ceilingBody reads the body in one allocation of its announced size
// (Stripe sends Content-Length), or grows a buffer when it is not announced.
func ceilingBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, ceilingMaxBody)
	if n := r.ContentLength; n > 0 && n <= ceilingMaxBody {
		body := make([]byte, n)
		_, err := io.ReadFull(rd, body)
		return body, err
	}
	return io.ReadAll(rd)
}
