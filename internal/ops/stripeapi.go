package ops

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/checkout/session"
	"github.com/stripe/stripe-go/v76/event"
	"github.com/stripe/stripe-go/v76/price"
	"github.com/stripe/stripe-go/v76/product"
	"github.com/stripe/stripe-go/v76/webhookendpoint"
)

// StripeAPI calls the Stripe API (stripe-go v76) for `stripe setup`
// (the webhook endpoint, products and prices) and `doctor` (what the worker
// and stripe-sync read).
type StripeAPI struct {
	endpoints webhookendpoint.Client
	products  product.Client
	prices    price.Client
	events    event.Client
	sessions  session.Client
}

// NewStripeAPI returns a client using apiKey (STRIPE_API_KEY). baseURL
// (STRIPE_API_URL) overrides Stripe's API address; empty means Stripe's.
func NewStripeAPI(apiKey, baseURL string) (*StripeAPI, error) {
	if apiKey == "" {
		return nil, fmt.Errorf("STRIPE_API_KEY is %w", ErrNotConfigured)
	}
	cfg := &stripe.BackendConfig{
		HTTPClient:        &http.Client{Timeout: 30 * time.Second},
		MaxNetworkRetries: stripe.Int64(2), // POSTs carry an idempotency key, so a retry never creates twice
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if baseURL != "" {
		cfg.URL = stripe.String(baseURL)
	}
	b := stripe.GetBackendWithConfig(stripe.APIBackend, cfg)
	return &StripeAPI{
		endpoints: webhookendpoint.Client{B: b, Key: apiKey},
		products:  product.Client{B: b, Key: apiKey},
		prices:    price.Client{B: b, Key: apiKey},
		events:    event.Client{B: b, Key: apiKey},
		sessions:  session.Client{B: b, Key: apiKey},
	}, nil
}

// StripeError is a failed Stripe API call: what was asked, and Stripe's
// status, type, code and parameter. Stripe's message is left out: it may
// quote the key.
type StripeError struct {
	What   string // e.g. "list webhook endpoints"
	Status int    // HTTP status; 0 when no answer came
	Type   string // Stripe's error type, e.g. invalid_request_error
	Code   string // Stripe's error code, e.g. api_key_invalid; often empty
	Param  string // the parameter at fault, if Stripe names one
	Err    error  // the transport error when no answer came
}

func (e *StripeError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("stripe: %s: %v", e.What, e.Err)
	}
	msg := fmt.Sprintf("stripe: %s: HTTP %d", e.What, e.Status)
	for _, s := range []string{e.Type, e.Code} {
		if s != "" {
			msg += " " + s
		}
	}
	if e.Param != "" {
		msg += " (parameter " + e.Param + ")"
	}
	return msg
}

func (e *StripeError) Unwrap() error { return e.Err }

// Refused reports whether Stripe refused the key itself (401).
func (e *StripeError) Refused() bool { return e.Status == http.StatusUnauthorized }

// Forbidden reports whether the key lacks a permission (403: a restricted
// key without the access the call needs).
func (e *StripeError) Forbidden() bool { return e.Status == http.StatusForbidden }

// NotFound reports whether the object asked for does not exist (404).
func (e *StripeError) NotFound() bool { return e.Status == http.StatusNotFound }

// stripeFailure is err of the Stripe call what, as a *StripeError.
func stripeFailure(what string, err error) error {
	var se *stripe.Error
	if errors.As(err, &se) {
		return &StripeError{What: what, Status: se.HTTPStatusCode, Type: string(se.Type), Code: string(se.Code), Param: se.Param}
	}
	return &StripeError{What: what, Err: err}
}

// notFound reports whether err is Stripe's 404.
func notFound(err error) bool {
	var se *StripeError
	return errors.As(err, &se) && se.NotFound()
}
