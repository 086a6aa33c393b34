package billing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/checkout/session"
)

// StripeLineItems reads a checkout session's line items through the Stripe
// API (stripe-go v76), for sessions whose metadata names no plan.
type StripeLineItems struct{ client session.Client }

// NewStripeLineItems returns a reader using apiKey (STRIPE_API_KEY). baseURL
// overrides Stripe's API address (tests); empty means Stripe's.
func NewStripeLineItems(apiKey, baseURL string) (*StripeLineItems, error) {
	if apiKey == "" {
		return nil, errors.New("stripe API key is empty")
	}
	cfg := &stripe.BackendConfig{
		HTTPClient:        &http.Client{Timeout: 20 * time.Second},
		MaxNetworkRetries: stripe.Int64(2),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if baseURL != "" {
		cfg.URL = stripe.String(baseURL)
	}
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, cfg)
	return &StripeLineItems{client: session.Client{B: backend, Key: apiKey}}, nil
}

// SessionPrices returns the price ids and lookup keys of the session's line items.
func (s *StripeLineItems) SessionPrices(ctx context.Context, sessionID string) ([]string, error) {
	params := &stripe.CheckoutSessionListLineItemsParams{Session: stripe.String(sessionID)}
	params.Context = ctx
	it := s.client.ListLineItems(params)
	var prices []string
	for it.Next() {
		li := it.LineItem()
		prices = append(prices, priceKeys(li.Price)...)
	}
	if err := it.Err(); err != nil {
		var se *stripe.Error
		if errors.As(err, &se) {
			// Only the code and status: Stripe's messages may quote the request.
			return nil, fmt.Errorf("stripe: list line items of %s: HTTP %d %s", sessionID, se.HTTPStatusCode, se.Code)
		}
		return nil, fmt.Errorf("stripe: list line items of %s: %w", sessionID, err)
	}
	return prices, nil
}
