package billing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/checkout/session"
	stripeprice "github.com/stripe/stripe-go/v76/price"
)

// StripeLineItems reads through the Stripe API (stripe-go v76) what an
// event does not carry: a checkout session's line items, for sessions whose
// metadata names no plan, and a price's lookup key.
type StripeLineItems struct {
	sessions session.Client
	prices   stripeprice.Client
}

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
	return &StripeLineItems{sessions: session.Client{B: backend, Key: apiKey}, prices: stripeprice.Client{B: backend, Key: apiKey}}, nil
}

// SessionPrices returns the session's line items: each its price's id,
// lookup key and product, and its quantity.
func (s *StripeLineItems) SessionPrices(ctx context.Context, sessionID string) ([]LineItem, error) {
	params := &stripe.CheckoutSessionListLineItemsParams{Session: stripe.String(sessionID)}
	params.Context = ctx
	it := s.sessions.ListLineItems(params)
	var prices []LineItem
	for it.Next() {
		li := it.LineItem()
		prices = append(prices, LineItem{Keys: priceKeys(li.Price), Quantity: li.Quantity})
	}
	if err := it.Err(); err != nil {
		return nil, stripeError("list line items of "+sessionID, err)
	}
	return prices, nil
}

// PriceKeys returns the price's id, lookup key (if it has one) and product.
func (s *StripeLineItems) PriceKeys(ctx context.Context, priceID string) ([]string, error) {
	params := &stripe.PriceParams{}
	params.Context = ctx
	p, err := s.prices.Get(priceID, params)
	if err != nil {
		return nil, stripeError("read price "+priceID, err)
	}
	return priceKeys(p), nil
}

// stripeError is err of a Stripe API call, what, with only the status and
// code of a Stripe error: Stripe's messages may quote the request.
func stripeError(what string, err error) error {
	var se *stripe.Error
	if errors.As(err, &se) {
		return fmt.Errorf("stripe: %s: HTTP %d %s", what, se.HTTPStatusCode, se.Code)
	}
	return fmt.Errorf("stripe: %s: %w", what, err)
}

// priceKeys are the id, lookup key and product of a price the API returned.
func priceKeys(p *stripe.Price) []string {
	if p == nil {
		return nil
	}
	keys := []string{p.ID}
	if p.LookupKey != "" {
		keys = append(keys, p.LookupKey)
	}
	if p.Product != nil && p.Product.ID != "" {
		keys = append(keys, p.Product.ID)
	}
	return keys
}
