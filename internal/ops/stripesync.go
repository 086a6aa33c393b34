package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/event"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/events"
)

// StripeEvents lists events through the Stripe API (stripe-go v76).
type StripeEvents struct{ client event.Client }

// NewStripeEvents returns a lister using apiKey (STRIPE_API_KEY). baseURL
// (STRIPE_API_URL) overrides Stripe's API address; empty means Stripe's.
func NewStripeEvents(apiKey, baseURL string) (*StripeEvents, error) {
	if apiKey == "" {
		return nil, fmt.Errorf("stripe-sync: STRIPE_API_KEY is %w", ErrNotConfigured)
	}
	cfg := &stripe.BackendConfig{
		HTTPClient:        &http.Client{Timeout: 30 * time.Second},
		MaxNetworkRetries: stripe.Int64(2),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if baseURL != "" {
		cfg.URL = stripe.String(baseURL)
	}
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, cfg)
	return &StripeEvents{client: event.Client{B: backend, Key: apiKey}}, nil
}

// SyncCounts is what a Stripe sync did.
type SyncCounts struct {
	Listed     int `json:"listed"`     // events Stripe returned
	Published  int `json:"published"`  // stored in STRIPE now
	Duplicates int `json:"duplicates"` // already stored (within the duplicate window)
}

// StripeSync lists the events of the types vpnbill handles created since
// since (inclusive) from the Stripe API, and publishes each as the webhook
// would have: the event's JSON as Stripe sent it, on
// events.StripeSubject(type), with the Stripe event id as deduplication id.
// Events the endpoint missed are then handled by the worker; ones already
// stored within the stream's 24 h duplicate window are not stored again, and
// older ones are harmless (the record's idempotency). Stripe lists newest
// first; the order does not matter to the worker. progress, if set, is
// called after every 100 events.
func (o *Ops) StripeSync(ctx context.Context, src *StripeEvents, since time.Time, progress func(SyncCounts)) (SyncCounts, error) {
	var c SyncCounts
	if since.IsZero() {
		return c, errors.New("stripe-sync: a start time is required")
	}
	params := &stripe.EventListParams{
		CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: since.Unix()},
		Types:        stripe.StringSlice(billing.HandledTypes),
	}
	params.Context = ctx
	params.Limit = stripe.Int64(100)
	it := src.client.List(params)
	var page *stripe.EventList
	var raw map[string]json.RawMessage
	for it.Next() {
		ev := it.Event()
		if progress != nil && c.Listed > 0 && c.Listed%100 == 0 {
			progress(c)
		}
		c.Listed++
		if l := it.EventList(); l != page {
			page, raw = l, rawEvents(l)
		}
		data, ok := raw[ev.ID]
		if !ok {
			var err error
			if data, err = json.Marshal(ev); err != nil {
				return c, fmt.Errorf("stripe-sync: encode %s: %w", ev.ID, err)
			}
		}
		if ev.ID == "" || !billing.Handled(string(ev.Type)) {
			continue // not one the webhook would store
		}
		subject, err := events.StripeSubject(string(ev.Type))
		if err != nil {
			return c, fmt.Errorf("stripe-sync: %s: %w", ev.ID, err)
		}
		ack, err := events.Publish(ctx, o.JS, subject, ev.ID, data, nil)
		if err != nil {
			return c, fmt.Errorf("stripe-sync after %d events: %w", c.Listed-1, err)
		}
		if ack.Duplicate {
			c.Duplicates++
		} else {
			c.Published++
		}
	}
	if err := it.Err(); err != nil {
		var se *stripe.Error
		if errors.As(err, &se) {
			// Only the status and code: Stripe's messages may quote the key.
			return c, fmt.Errorf("stripe-sync: list events: HTTP %d %s", se.HTTPStatusCode, se.Code)
		}
		return c, fmt.Errorf("stripe-sync: list events: %w", err)
	}
	return c, nil
}

// rawEvents returns the events of a page as Stripe sent them, by id.
func rawEvents(l *stripe.EventList) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	if l == nil || l.LastResponse == nil {
		return out
	}
	var body struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(l.LastResponse.RawJSON, &body); err != nil {
		return out
	}
	for _, d := range body.Data {
		if id := peek(d).ID; id != "" {
			out[id] = d
		}
	}
	return out
}
